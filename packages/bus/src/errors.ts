// one owner: @npp/kit (a dependency-free module, so the CLI can load it alone)
export { toError } from '@npp/kit/errors'
