#!/usr/bin/env python3
"""Print the field list of CloudNativePG's CRDs, one JSON path per line, for api/tests/cnpg_parity.rs.

Usage (from a CloudNativePG checkout and a plugin-barman-cloud checkout):

    python3 api/tests/data/cnpg-fields.py \
        cloudnative-pg/config/crd/bases/postgresql.cnpg.io_*.yaml \
        plugin-barman-cloud/config/crd/bases/barmancloud.cnpg.io_objectstores.yaml \
        > api/tests/data/cnpg-1.30-fields.txt

The CRD YAML that controller-gen generates from CloudNativePG's Go types is the most exact statement
of the API a CloudNativePG manifest is checked against, so the list is read from it rather than
from the Go sources. Each line is

    <Kind> <path> <type> [required] [enum=<v1>|<v2>…]

where <path> starts at `spec` or `status`, `[]` steps into array items and `{}` into map values;
<type> is the OpenAPI type, `int-or-string`, or `any` (a free-form object); `required` means the
parent object lists the field as required; `enum=` lists the values the schema allows.
Lines starting with `#` are comments. Needs PyYAML.
"""
import sys

import yaml


def schema_type(schema):
    if schema.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        return "any"
    return schema.get("type", "any")


def walk(kind, path, schema, required, out):
    line = f"{kind} {path} {schema_type(schema)}"
    if required:
        line += " required"
    if "enum" in schema:
        line += " enum=" + "|".join(str(v) for v in schema["enum"])
    out.append(line)
    must = set(schema.get("required") or [])
    for name, child in sorted((schema.get("properties") or {}).items()):
        walk(kind, f"{path}.{name}", child, name in must, out)
    if isinstance(schema.get("items"), dict):
        walk(kind, path + "[]", schema["items"], False, out)
    if isinstance(schema.get("additionalProperties"), dict):
        walk(kind, path + "{}", schema["additionalProperties"], False, out)


def main(files):
    out = []
    for file in sorted(files):
        with open(file, encoding="utf-8") as f:
            for crd in yaml.safe_load_all(f):
                if not crd:
                    continue
                kind = crd["spec"]["names"]["kind"]
                version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
                root = version["schema"]["openAPIV3Schema"]
                must = set(root.get("required") or [])
                for top in ("spec", "status"):
                    if top in root.get("properties", {}):
                        walk(kind, top, root["properties"][top], top in must, out)
    print("\n".join(sorted(out)))


if __name__ == "__main__":
    main(sys.argv[1:])
