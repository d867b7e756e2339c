# shellcheck shell=bash
# The object store: one MinIO server on the host, reachable from every region's pods (and the host)
# at http://172.31.255.1:9000, one bucket per region. Its data survives stop-s3/start-s3.
# Endpoint, credentials and bucket names are written to $KM_STATE/s3.env for tests and the demo.

KM_S3_USER=pgfed
KM_S3_PASSWORD=pgfed-kind-secret
s3_endpoint() { echo "http://$KM_S3_IP:$KM_S3_PORT"; }
s3_bucket() { echo "pgfed-$(region_name "$1")"; }

s3_start() {
  daemon_alive s3 && return 0
  mkdir -p "$KM_STATE/s3/data"
  start_daemon s3 "$KM_STATE/logs/s3.log" env MINIO_ROOT_USER="$KM_S3_USER" MINIO_ROOT_PASSWORD="$KM_S3_PASSWORD" \
    MINIO_BROWSER=off MINIO_UPDATE=off \
    "$(minio_bin)" server --quiet --address "$KM_S3_IP:$KM_S3_PORT" --console-address "$KM_S3_IP:$((KM_S3_PORT + 1))" \
    "$KM_STATE/s3/data"
  wait_for "object store" 120 curl -sf "$(s3_endpoint)/minio/health/ready"
}
s3_stop() { stop_daemon s3; }

# s3 METHOD PATH: a signed S3 request (SigV4) with curl; enough for bucket creation.
s3_request() {
  curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KM_S3_USER:$KM_S3_PASSWORD" -X "$1" "$(s3_endpoint)$2"
}

s3_up() {
  s3_start
  local r buckets=""
  {
    echo "# Object store shared by all regions (MinIO), written by tests/kind-multi/up"
    echo "S3_ENDPOINT=$(s3_endpoint)"
    echo "AWS_ENDPOINT_URL=$(s3_endpoint)"
    echo "AWS_ACCESS_KEY_ID=$KM_S3_USER"
    echo "AWS_SECRET_ACCESS_KEY=$KM_S3_PASSWORD"
    echo "AWS_DEFAULT_REGION=us-east-1"
    for r in $(regions); do
      s3_request HEAD "/$(s3_bucket "$r")" >/dev/null 2>&1 || s3_request PUT "/$(s3_bucket "$r")" >/dev/null ||
        die "cannot create bucket $(s3_bucket "$r")"
      echo "S3_BUCKET_$(region_letter "$r" | tr "[:lower:]" "[:upper:]")=$(s3_bucket "$r")"
      buckets="$buckets $(s3_bucket "$r")"
    done
    echo "S3_BUCKETS=\"${buckets# }\""
  } >"$KM_STATE/s3.env"
}
