# viewcount: the API and the scheduler, one image (docker-compose.yml runs both).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A user without a login shell or privileges owns the process and its (embedded-Redis) data.
RUN useradd --system --create-home --home-dir /home/viewcount --uid 10001 \
        --shell /usr/sbin/nologin viewcount

# Runtime dependencies only, from the hashed lock (no [dev] extras, no build tools in the
# image), in a layer of their own; then the package itself, adding nothing to the lock.
WORKDIR /tmp/viewcount-src
COPY requirements/runtime.txt ./requirements/
RUN pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install . --no-deps && rm -rf /tmp/viewcount-src

USER viewcount
WORKDIR /home/viewcount
ENV VIEWCOUNT_DATA_DIR=/home/viewcount/data
EXPOSE 8000

# /readyz answers 503 while Redis does not answer, so the container shows unhealthy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]

# The command `make run` uses (without --demo), listening on every interface of the container.
# With no VIEWCOUNT_REDIS_URL it runs the embedded Redis under VIEWCOUNT_DATA_DIR; compose sets
# the URL and overrides this command for the api and scheduler services.
CMD ["viewcount", "serve", "--host", "0.0.0.0", "--port", "8000"]
