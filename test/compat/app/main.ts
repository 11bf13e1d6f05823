/**
 * Starts the compatibility app and prints `compat-app listening on <port>`. On SIGTERM it closes the
 * application and must then exit by itself: a connection, timer or subscription left open would keep it
 * alive, and the check would see it hang.
 */
import { startApp } from './app.module.js';

startApp(Number(process.env.PORT ?? 0)).then(
  ({ app, port }) => {
    console.log(`compat-app listening on ${port}`);
    process.once('SIGTERM', () => {
      app.close().then(
        () => console.log('compat-app closed'),
        (error: unknown) => {
          console.error('compat-app failed to close', error);
          process.exitCode = 1;
        },
      );
    });
  },
  (error: unknown) => {
    console.error('compat-app failed to start', error);
    process.exit(1);
  },
);
