# MLflow tracking server image for docker/compose.yaml (same MLflow version as the project).
FROM python:3.11-slim
RUN pip install --no-cache-dir mlflow==3.17.2 psycopg2-binary==2.9.10 boto3==1.40.0
ENV MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
