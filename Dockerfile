FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock ./
# Only the product's own dependencies: no dev tools, no sandbox web server (pyproject groups).
RUN uv sync --frozen --no-default-groups
COPY . .
RUN useradd --create-home odportal && chown -R odportal /app
USER odportal
EXPOSE 8000
