# Platform Logs: one image for the web app (and, later, the alert scheduler).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PLATLOGS_DATA_DIR=/var/lib/platlogs \
    PLATLOGS_HOST=0.0.0.0 PLATLOGS_PORT=8080
WORKDIR /opt/platlogs
COPY pyproject.toml README.md ./
COPY app ./app
COPY index_templates ./index_templates
COPY alerts ./alerts
COPY dashboards ./dashboards
# Editable: the OpenSearch backend reads index_templates/ beside the app package. The psycopg
# (PostgreSQL) binary wheel bundles libpq, so the slim image needs no build tools.
RUN pip install --no-cache-dir -e . && useradd --system --home /var/lib/platlogs platlogs \
    && mkdir -p /var/lib/platlogs && chown platlogs /var/lib/platlogs
USER platlogs
VOLUME /var/lib/platlogs
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/api/v1/health')"
CMD ["platlogs", "serve"]
