"""The odportal Django app: developer accounts, offices, customer keys, polling and aging."""
