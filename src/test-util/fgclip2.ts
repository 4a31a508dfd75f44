/** An FG-CLIP 2 model class loaded with Node's ports (what `FgClip.load` does for the whole handle). */
import { Fgclip2Model, type Fgclip2LoadOptions } from '../families/fgclip2/model.js';
import { nodePorts, type NodePortOptions } from '../platform/node/ports.js';

export function loadFgclip2Model(dir: string, opts: Fgclip2LoadOptions & NodePortOptions = {}): Promise<Fgclip2Model> {
  return Fgclip2Model.load(nodePorts(dir, opts), opts);
}
