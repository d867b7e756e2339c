#!/usr/bin/env python3
"""Sits in front of fake-gcs-server and carries the Cloud Storage XML API writes it lacks, which
object_store uses for every upload: a plain object PUT (fake-gcs-server only takes uploads on its
JSON API, fsouza/fake-gcs-server#331) and the multipart upload (initiate, upload part, complete,
abort; #852). Each write becomes one JSON API media upload (with x-goog-if-generation-match as
ifGenerationMatch) and answers with the XML API's ETag and x-goog-generation headers; multipart
parts are held in memory until complete. Reads, listings and deletes pass through unchanged.

usage: gcs_xml_writes.py LISTEN_PORT UPSTREAM_PORT
"""
import hashlib
import http.client
import http.server
import json
import re
import sys
import threading
import urllib.parse
import uuid

LISTEN, UPSTREAM = int(sys.argv[1]), int(sys.argv[2])
HOP = {"host", "connection", "keep-alive", "content-length", "transfer-encoding", "date", "server"}
uploads = {}
lock = threading.Lock()


def upstream(method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
    out = {k: v for k, v in (headers or {}).items() if k.lower() not in HOP}
    out["Content-Length"] = str(len(body))
    conn.request(method, path, body=body, headers=out)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (fmt % args))

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, body=b"", headers=(), length=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def write_object(self, bucket, name, content, headers):
        """One JSON API media upload; returns the XML API reply (status, body, headers)."""
        query = {"uploadType": "media", "name": name}
        match = headers.get("x-goog-if-generation-match")
        if match is not None:
            query["ifGenerationMatch"] = match
        path = "/upload/storage/v1/b/%s/o?%s" % (bucket, urllib.parse.urlencode(query))
        ctype = headers.get("Content-Type") or "application/octet-stream"
        resp, data = upstream("POST", path, content, {"Content-Type": ctype})
        if resp.status != 200:
            return resp.status, data, []
        obj = json.loads(data)
        return 200, b"", [("ETag", '"%s"' % obj["etag"]), ("x-goog-generation", obj["generation"])]

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        body = self.read_body()
        bucket, _, name = url.path.lstrip("/").partition("/")
        name = urllib.parse.unquote(name)
        is_object = bool(name) and not url.path.startswith(("/storage/", "/upload/", "/download/", "/_internal/"))
        if is_object and self.command == "POST" and "uploads" in query:
            upload_id = uuid.uuid4().hex
            keep = {"Content-Type": self.headers.get("Content-Type") or "application/octet-stream"}
            with lock:
                uploads[upload_id] = {"headers": keep, "parts": {}}
            xml = ("<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult>"
                   "<Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>"
                   "</InitiateMultipartUploadResult>" % (bucket, name, upload_id))
            return self.reply(200, xml.encode(), [("Content-Type", "application/xml")])
        if is_object and "uploadId" in query:
            upload_id = query["uploadId"][0]
            with lock:
                upload = uploads.get(upload_id)
            if upload is None:
                return self.reply(404, b"<Error><Code>NoSuchUpload</Code></Error>")
            if self.command == "PUT" and "partNumber" in query:
                etag = '"%s"' % hashlib.md5(body).hexdigest()
                with lock:
                    upload["parts"][int(query["partNumber"][0])] = (etag, body)
                return self.reply(200, b"", [("ETag", etag)])
            if self.command == "DELETE":
                with lock:
                    uploads.pop(upload_id, None)
                return self.reply(204)
            if self.command == "POST":
                content = []
                for part in re.findall(r"<Part>(.*?)</Part>", body.decode(), re.S):
                    number = int(re.search(r"<PartNumber>(\d+)</PartNumber>", part).group(1))
                    etag = re.search(r"<ETag>(.*?)</ETag>", part, re.S).group(1).replace("&quot;", '"')
                    stored = upload["parts"].get(number)
                    if stored is None or stored[0] != etag:
                        return self.reply(400, b"<Error><Code>InvalidPart</Code></Error>")
                    content.append(stored[1])
                status, data, headers = self.write_object(bucket, name, b"".join(content), upload["headers"])
                if status != 200:
                    return self.reply(status, data)
                with lock:
                    uploads.pop(upload_id, None)
                xml = ("<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult>"
                       "<Bucket>%s</Bucket><Key>%s</Key><ETag>%s</ETag></CompleteMultipartUploadResult>"
                       % (bucket, name, dict(headers)["ETag"]))
                return self.reply(200, xml.encode(), headers + [("Content-Type", "application/xml")])
        if is_object and self.command == "PUT" and not query:
            status, data, headers = self.write_object(bucket, name, body, self.headers)
            return self.reply(status, data, headers)
        resp, data = upstream(self.command, self.path, body, self.headers)
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP]
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.reply(resp.status, data, headers, length=length)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Handler)
server.daemon_threads = True
server.serve_forever()
