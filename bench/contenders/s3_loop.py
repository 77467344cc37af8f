"""The per-object S3 baseline: list the prefix, DeleteObject each key older than the cutoff."""

import json
import os
import sys
import time
from datetime import datetime

import boto3

endpoint, bucket, cutoff_text = sys.argv[1], sys.argv[2], sys.argv[3]
cutoff = datetime.fromisoformat(cutoff_text)
client = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ["AWS_DEFAULT_REGION"])
started, cpu = time.perf_counter(), time.process_time()
for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="uploads/"):
    for item in page.get("Contents", []):
        if item["LastModified"] < cutoff:
            client.delete_object(Bucket=bucket, Key=item["Key"])
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
