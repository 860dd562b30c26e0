"""Open Dental integrations: the accounts and offices apps, the Open Dental client, devtools."""
