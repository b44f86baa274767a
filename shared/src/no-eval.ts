/**
 * Imported first (before anything that defines a schema) by the pages the
 * coordinator serves under a Content-Security-Policy without 'unsafe-eval':
 * the dashboard and the contributor page.
 *
 * zod compiles object parsers with `Function` when it may, and learns whether
 * it may by calling `Function('')` the first time it *constructs* an object
 * schema, which for this workspace is while shared/ is being imported. Under
 * such a policy the call is refused and the browser reports a violation
 * ("script-src eval"). Jitless parsing is the same parsing without the probe;
 * the setting is read at construction, hence a module of its own, imported
 * before the rest. (Global to zod in that page; the coordinator never
 * imports this.)
 */
import { config } from 'zod';

config({ jitless: true });
