#!/usr/bin/env node
import cluster from 'node:cluster';
import { ConfigError, helpText, loadConfig, usesRedis, type Config } from '../config.js';
import { createLogger } from '../log.js';
import { runPrimary } from './primary.js';
import { runSingle, runWorker } from './roles.js';

function configOrExit(argv: string[]): Readonly<Config> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText());
    process.exit(0);
  }
  try {
    return loadConfig(argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`chorus-server: ${err.message}\n`);
    process.exit(2);
  }
}

const config = configOrExit(process.argv.slice(2));
const clustered = usesRedis(config);

if (cluster.isWorker) {
  await runWorker(config, createLogger(config.logLevel, { worker: cluster.worker!.id }));
} else if (clustered) {
  await runPrimary(config, createLogger(config.logLevel, { role: 'primary' }));
} else {
  await runSingle(config, createLogger(config.logLevel));
}
