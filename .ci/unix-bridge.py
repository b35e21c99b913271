#!/usr/bin/env python3
"""Relays TCP connections on 127.0.0.1:PORT to a Unix socket, for HTTP tools that speak
only TCP (schemathesis). Usage: unix-bridge.py PORT SOCKET"""
import asyncio
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_r, client_w, socket_path):
    try:
        server_r, server_w = await asyncio.open_unix_connection(socket_path)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))


async def main(port, socket_path):
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, socket_path), "127.0.0.1", port
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
