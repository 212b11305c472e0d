# MLflow tracking server image for docker/compose.yaml: the project's MLflow and boto3 versions
# (pyproject.toml), plus the PostgreSQL driver of the backend store.
FROM python:3.11-slim
RUN pip install --no-cache-dir mlflow==3.17.2 boto3==1.43.117 psycopg2-binary==2.9.10
ENV MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
