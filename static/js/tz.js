// Tell the server the viewer's time zone once (a cookie), so times elsewhere than an office's
// page show in it, named. Without JavaScript the deployment's TIME_ZONE is used.
(() => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone || document.cookie.includes(`odportal_tz=${encodeURIComponent(zone)}`)) return;
  document.cookie = `odportal_tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; SameSite=Lax`;
})();
