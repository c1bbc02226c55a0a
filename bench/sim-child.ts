/**
 * Runs the Earth Engine simulator in a child process, so that the poller's memory
 * figures (bench/poll-calls.ts) measure the poller, not the simulator. The options
 * come as JSON in argv[2]; the URL goes back over IPC. Stops on SIGTERM or when the
 * parent goes away.
 */
import { startSimulator, type SimulatorOptions } from '../tools/ee-simulator/index.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as SimulatorOptions;
const sim = await startSimulator(options);
process.send?.({ url: sim.url });
const stop = () => void sim.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('disconnect', stop);
