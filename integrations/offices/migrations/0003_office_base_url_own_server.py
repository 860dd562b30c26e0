"""Remote offices go to the deployment's OPENDENTAL_REMOTE_BASE_URL: their stored base URL is
cleared; the field is the server address of Service and Local offices only."""

from django.db import migrations, models


def clear_remote_base_urls(apps, schema_editor):
    Office = apps.get_model("offices", "Office")
    Office.objects.filter(api_mode="remote").exclude(base_url="").update(base_url="")


class Migration(migrations.Migration):
    dependencies = [("offices", "0002_office_search_trigram")]

    operations = [
        migrations.RunPython(clear_remote_base_urls, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="office",
            name="base_url",
            field=models.URLField(
                blank=True, default="", max_length=300, verbose_name="server address"
            ),
        ),
    ]
