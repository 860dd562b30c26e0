FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH \
    STATIC_ROOT=/app/staticfiles
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock ./
# Only the product's own dependencies: no dev tools, no sandbox web server (pyproject groups).
RUN uv sync --frozen --no-default-groups
COPY . .
# Hashed, compressed static files with their manifest, which WhiteNoise serves from STATIC_ROOT.
# With DEBUG off the settings refuse to load without real secrets: throwaway ones here
# (collectstatic uses neither; they are not kept), and a scratch var/ for the embedded
# defaults' folders that the settings create, removed again.
RUN export SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
        ODPORTAL_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
        ODPORTAL_VAR_DIR=/tmp/build-var \
    && python manage.py collectstatic --noinput && rm -rf /tmp/build-var
RUN useradd --create-home odportal && chown -R odportal /app
USER odportal
EXPOSE 8000
