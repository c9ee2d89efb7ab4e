// The component's entry module: the file componentize-js builds, not one a plugin author edits.
//
// `alur:step/host@0.1.0` exists only inside the component, so it is imported here and nowhere else; the plugin's
// own modules (app.js and what it imports) stay loadable by plain Node for `node --test`.
import * as host from 'alur:step/host@0.1.0';
import { installHost } from './alur-step.js';

installHost(host);

export { run } from './app.js';
