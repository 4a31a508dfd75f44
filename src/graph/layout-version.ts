/**
 * The layout version of the graphs this project builds: part of every graph-cache key and manifest, so a cached
 * graph built by an older builder is rebuilt, never misread. Bump it whenever the graphs built from the same weights
 * change (node or initializer names, folds, inputs, outputs).
 */
export const GRAPH_LAYOUT_VERSION = 7;
