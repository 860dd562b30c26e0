"""A stored base URL only on Service and Local offices (and always on them). Its own migration:
Postgres refuses ALTER TABLE in the transaction that updated the rows (0003)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("offices", "0003_office_base_url_own_server")]

    operations = [
        migrations.AddConstraint(
            model_name="office",
            constraint=models.CheckConstraint(
                condition=models.Q(("api_mode", "remote"), ("base_url", ""))
                | models.Q(
                    models.Q(("api_mode", "remote"), _negated=True),
                    models.Q(("base_url", ""), _negated=True),
                ),
                name="office_base_url_only_own_server",
            ),
        ),
    ]
