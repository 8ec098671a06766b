# The pipeline's image, for the luigid and worker services of docker-compose.yml.
# Installed in place (editable) so that luigi.cfg, data/ and reports/ sit where the package looks for them.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml setup.py README.md luigi.cfg ./
COPY pipeline ./pipeline
RUN pip install -e . && mkdir -p reports .luigid
COPY data ./data
COPY contracts ./contracts

# luigid reads /app/luigi.cfg ([core] scheduler_port); the worker runs the graph (see docker-compose.yml).
EXPOSE 8082
CMD ["luigi", "--module", "pipeline", "Transform"]
