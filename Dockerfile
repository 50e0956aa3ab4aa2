# Platform Logs: one image for the web app (and, later, the alert scheduler).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PLATLOGS_DATA_DIR=/var/lib/platlogs \
    PLATLOGS_HOST=0.0.0.0 PLATLOGS_PORT=8080
WORKDIR /opt/platlogs
COPY pyproject.toml README.md ./
COPY app ./app
COPY platlogs_client ./platlogs_client
# A plain install: the shipped rules, index templates and dashboards are package data
# (app/shipped; PLATLOGS_RULES_DIR, PLATLOGS_TEMPLATES_DIR and PLATLOGS_DASHBOARDS_DIR choose
# others). The psycopg (PostgreSQL) binary wheel bundles libpq, so the slim image needs no build tools.
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/platlogs platlogs \
    && mkdir -p /var/lib/platlogs && chown platlogs /var/lib/platlogs
USER platlogs
VOLUME /var/lib/platlogs
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/api/v1/health')"
CMD ["platlogs", "serve"]
