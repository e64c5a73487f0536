/**
 * tsbuild, the Dockerfile builder. Not implemented yet: its work is tracked by the builder,
 * image store and registry issues. The package exists so that the workspace layout and the
 * `tsbuild` bin are in place.
 */
export const NOT_IMPLEMENTED = 'tsbuild is not implemented yet';
