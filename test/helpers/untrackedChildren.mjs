// Loaded into every test process (package.json "tap"."node-arg"). tap's process tracker
// (@tapjs/processinfo) hooks every spawn of the test process through process-on-spawn and
// puts its own loader into the child's NODE_OPTIONS, whatever the test set there. In a
// kerio-dcc child it adds about 175 ms to each start (110 ms without it), and it makes
// memory figures the tracker's, not the tool's. Coverage is off, so nothing needs it:
// its spawn hook is removed here; test/test-harness.test.ts fails if it comes back.
const state = globalThis[Symbol.for('process-on-spawn@*:singletonId')];
if (state && Array.isArray(state.listeners)) state.listeners.length = 0;
