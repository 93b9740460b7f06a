#!/usr/bin/env node
// `npx anomaly` resolves commands from node_modules/.bin only, not from the root package's
// own bin; this folder is linked in as a local dependency so the command is found there.
'use strict';
require('../dist/cli/main.js');
