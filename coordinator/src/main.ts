/**
 * `pnpm start`: reads the environment, starts a coordinator, stops cleanly
 * on SIGINT/SIGTERM. A bad configuration or a missing tool is one clear
 * line and exit code 1.
 */
import { type Config, ConfigError, loadConfig } from './config.js';
import { type RunningCoordinator, startCoordinator } from './coordinator.js';
import { TabgridError } from './errors.js';
import { createLogger } from './logger.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`tabgrid: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  let coordinator: RunningCoordinator;
  try {
    coordinator = await startCoordinator(config, logger);
  } catch (err) {
    if (err instanceof TabgridError) {
      logger.fatal({ code: err.code }, err.message);
      console.error(`tabgrid: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void coordinator.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

await main();
