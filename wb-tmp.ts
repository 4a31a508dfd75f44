import { benchRegionSchemes, benchWorkers } from '/work/wt-coll/bench/collection.js';
import { ensureJpegs } from '/work/wt-coll/bench/images.js';
const jpegs = await ensureJpegs('/work/wt-coll/.cache/bench', 16);
const which = process.argv[2];
if (which === 'regions') console.log(JSON.stringify(await benchRegionSchemes({ jpegs: jpegs.slice(0, 8), modelDir: '/work/shared/goldens/fgclip-small', threads: 1, queries: 8, log: console.error })));
else console.log(JSON.stringify(await benchWorkers({ dir: '/tmp/coll/wbench', jpegs: jpegs.slice(0, 12), modelDir: '/work/wt-coll/.cache/bench/fg-clip-base-synthetic-v1', log: console.error })));
