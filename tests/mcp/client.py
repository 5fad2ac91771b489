#!/usr/bin/env python3
"""Drives Responder's MCP server with the official MCP Python SDK (`pip install mcp`).

A client that is not Responder's own code: tests/it/mcp.rs runs this script as a
child process and asserts on what it prints. It connects over Streamable HTTP (an
agent token as Authorization: Bearer) or stdio (it starts `responder mcp`), with the
initialize handshake (mode "legacy", 2025-11-25) or the current revision's
discovery (mode "auto", 2026-07-28), lists the tools and runs the calls it is given.

Input (JSON on stdin):
  {"transport": "http", "url": "...", "token": "...", "mode": "legacy"|"auto",
   "ops": [...]}
  {"transport": "stdio", "command": "...", "args": [...], "env": {...}, ...}
Each op is {"call": TOOL, "args": {...}} (one call) or {"page": TOOL, "args": {...}}
(calls again with the result's next_cursor until it is null).

Output (JSON on stdout): the negotiated protocol version, the server's name, the
tools listed (name, input schema) and, per op, every result: is_error, the text of
each content block, the structured content, and the call's milliseconds.
"""

import asyncio
import json
import sys
import time

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


def result_json(result, started):
    return {
        "ms": round((time.monotonic() - started) * 1000, 1),
        "is_error": bool(result.is_error),
        "texts": [getattr(block, "text", None) for block in result.content],
        "structured": result.structured_content,
    }


async def run_op(client, op):
    if "call" in op:
        started = time.monotonic()
        return [result_json(await client.call_tool(op["call"], op.get("args", {})), started)]
    pages = []
    args = dict(op.get("args", {}))
    while True:
        started = time.monotonic()
        result = await client.call_tool(op["page"], args)
        pages.append(result_json(result, started))
        cursor = (result.structured_content or {}).get("next_cursor")
        if result.is_error or not cursor:
            return pages
        if len(pages) > 10_000:
            raise RuntimeError("the server never stopped paging")
        args["cursor"] = cursor


async def main(spec):
    if spec["transport"] == "http":
        http = httpx2.AsyncClient(
            headers={"Authorization": "Bearer " + spec["token"]},
            timeout=httpx2.Timeout(120.0),
        )
        server = streamable_http_client(spec["url"], http_client=http)
    else:
        server = StdioServerParameters(
            command=spec["command"], args=spec.get("args", []), env=spec.get("env")
        )
    async with Client(server, mode=spec.get("mode", "auto"), read_timeout_seconds=120) as client:
        listed = await client.list_tools()
        out = {
            "protocol_version": client.protocol_version,
            "server_name": client.server_info.name if client.server_info else None,
            "tools": [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema}
                for t in listed.tools
            ],
            "ops": [await run_op(client, op) for op in spec.get("ops", [])],
        }
    if spec["transport"] == "http":
        await http.aclose()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main(json.load(sys.stdin)))
