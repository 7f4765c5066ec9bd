# The image every Ray cluster node runs (ray_cluster.yaml `docker:`): Python, Debian's
# chromium and the project, installed by scripts/install.sh, the same script `make` runs.
# Build and push: see README, "Scale-out".
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
COPY scripts/install.sh /opt/ripcity/scripts/install.sh
RUN /opt/ripcity/scripts/install.sh system && rm -rf /var/lib/apt/lists/*
COPY . /opt/ripcity
RUN /opt/ripcity/scripts/install.sh python /opt/venv

ENV PATH=/opt/venv/bin:$PATH RIPCITY_CHROMIUM_PATH=/usr/bin/chromium
WORKDIR /opt/ripcity
