import { machineGraph, mermaidIds, toMermaid } from '../inspect/graph.js'
import { allMachines } from '../peer.js'
import type { MachineGraph } from '../inspect/graph.js'

/** A machine definition as the inspector and `npp machines --format json` show it */
export interface MachineView {
  id: string
  owner: string
  graph: MachineGraph
  /** `stateDiagram-v2` without highlighting */
  mermaid: string
  /** mermaid node id of each state node id (to highlight active states) */
  ids: Record<string, string>
}

/** Every package machine and child machine, derived from the definitions (plus `extra` graphs seen at run time) */
export function machineViews (extra: MachineGraph[] = []): MachineView[] {
  const graphs = allMachines().map(({ owner, machine }) => machineGraph(machine, owner))
  for (const g of extra) if (!graphs.some((x) => x.id === g.id)) graphs.push(g)
  return graphs.map((graph) => ({ id: graph.id, owner: graph.owner, graph, mermaid: toMermaid(graph), ids: mermaidIds(graph) }))
}
