# One image for every admet-hpo service of docker-compose.yml: hpo (workers, scheduler, dashboard) and the
# MLflow tracking server. CPU only: torch comes from PyTorch's CPU index (the PyPI wheel pulls CUDA).
#   docker build -t admet-hpo:0.1.0 .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ADMET_HPO_CACHE=/opt/admet-hpo/cache

# RDKit's drawing module, which chemprop imports, links the X11 render libraries.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libxrender1 libxext6 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/admet-hpo

# The pinned CPU torch first, so that installing the package finds it satisfied; then the package with
# the tested versions of its dependencies (constraints.txt).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
RUN pip install -c constraints.txt . && pip check

COPY search_spaces ./search_spaces
COPY configs ./configs
COPY studies ./studies
COPY deploy ./deploy

# An unprivileged user owning the folders the compose volumes are mounted on (a new named volume takes
# the image folder's owner).
RUN useradd --system --uid 10001 --home-dir /opt/admet-hpo/home --create-home hpo \
    && mkdir -p runs cache mlflow \
    && chown hpo runs cache mlflow
USER hpo

CMD ["hpo", "--help"]
