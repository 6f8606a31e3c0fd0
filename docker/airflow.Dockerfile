# syntax=docker/dockerfile:1
# Airflow as MWAA runs it (3.3.1 on Python 3.12) plus what this package's requirements.txt adds.
# Build context: the repository root (see docker-compose.yaml); only the two files below are sent
# (docker/airflow.Dockerfile.dockerignore).
ARG AIRFLOW_IMAGE=apache/airflow:3.3.1-python3.12
FROM ${AIRFLOW_IMAGE}

# requirements.txt starts with MWAA's `--constraint "/usr/local/airflow/dags/constraints.txt"`, a path
# that exists only on MWAA. Drop that line and pass the same file, dags/constraints.txt, with -c.
# Naming apache-airflow at the image's version keeps pip from up- or downgrading Airflow itself.
COPY --chown=airflow:0 requirements.txt dags/constraints.txt /tmp/message-export/
RUN grep -v '^--constraint' /tmp/message-export/requirements.txt > /tmp/message-export/requirements-local.txt \
    && pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        -r /tmp/message-export/requirements-local.txt \
        -c /tmp/message-export/constraints.txt \
    && rm -rf /tmp/message-export
