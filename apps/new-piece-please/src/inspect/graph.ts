import { StateMachine } from 'xstate'
import type { AnyActorLogic, AnyStateMachine, StateValue } from 'xstate'

/**
 * Statechart diagrams derived from the machine definitions themselves.
 *
 * We walk `machine.root` instead of using `toDirectedGraph` from `xstate/graph`:
 * that one leaves out eventless (`always`) transitions and guard names, and turns
 * every targetless transition (actions only) into a self loop, which buries the
 * diagram of a machine like the transport's under arrows that change nothing.
 * Targetless transitions are kept as `handles` on their state instead.
 */

/** One state node of a machine */
export interface StateGraphNode {
  /** The full state node id, e.g. `transport.online` */
  id: string
  /** The node's key in its parent, e.g. `online` */
  key: string
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history'
  /** Key of the initial child state (compound states) */
  initial?: string
  /** Names (`src`) of the actors invoked while in this state */
  invokes: string[]
  /** Events handled here without a state change (actions only) */
  handles: string[]
  children: StateGraphNode[]
  edges: StateGraphEdge[]
}

/** A transition between two state nodes */
export interface StateGraphEdge {
  source: string
  target: string
  /** A readable event label (`start`, `after 1000 ms`, `done: startNode`, `always`) */
  event: string
  /** Name of the guard, if any */
  guard?: string
}

/** A machine as a graph, plus the child machines it can spawn or invoke */
export interface MachineGraph {
  /** The machine's id */
  id: string
  /** Which package (or app) defines it */
  owner: string
  root: StateGraphNode
  /** Ids of the machines among the machine's own actors (children it spawns or invokes) */
  childMachines: string[]
}

/** Is this actor logic a state machine? */
export function isMachine (logic: unknown): logic is AnyStateMachine {
  return logic instanceof StateMachine || (typeof logic === 'object' && logic != null && 'root' in logic && 'config' in logic && 'implementations' in logic)
}

function eventLabel (eventType: string, node: StateGraphNode | undefined): string {
  if (eventType === '') return 'always'
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType)
  if (after != null) return /^\d+$/.test(after[1] ?? '') ? `after ${after[1]} ms` : `after ${after[1]}`
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType)
  if (done != null) return `done: ${invokeName(done[1] ?? '', node)}`
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType)
  if (error != null) return `error: ${invokeName(error[1] ?? '', node)}`
  if (eventType.startsWith('xstate.done.state.')) return 'done'
  return eventType
}

// Invoked actors without an explicit id get an id like `0.transport.starting`;
// show their `src` name instead.
function invokeName (id: string, node: StateGraphNode | undefined): string {
  if (node == null || !/^\d+\./.test(id)) return id
  return node.invokes[Number(id.split('.')[0])] ?? id
}

function guardName (guard: unknown): string | undefined {
  if (guard == null) return undefined
  if (typeof guard === 'string') return guard
  if (typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string') return guard.type
  if (typeof guard === 'function') return guard.name !== '' ? guard.name : 'guard'
  return 'guard'
}

function srcName (src: unknown): string {
  if (typeof src === 'string') return src
  if (isMachine(src)) return src.id
  return 'inline'
}

type AnyStateNode = AnyStateMachine['root']

function walk (node: AnyStateNode): StateGraphNode {
  const children = Object.values(node.states as Record<string, AnyStateNode>).map(walk)
  const graphNode: StateGraphNode = {
    id: node.id,
    key: node.key,
    type: node.type,
    invokes: node.invoke.map((i) => srcName(i.src)),
    handles: [],
    children,
    edges: []
  }
  if (node.type === 'compound') {
    const target = node.initial?.target?.[0]
    if (target != null) graphNode.initial = target.key
  }
  const transitions = [...node.transitions.values()].flat().concat(node.always ?? [])
  for (const t of transitions) {
    const event = eventLabel(t.eventType, graphNode)
    const guard = guardName(t.guard)
    if (t.target == null || t.target.length === 0) {
      const label = guard == null ? event : `${event} [${guard}]`
      if (!graphNode.handles.includes(label)) graphNode.handles.push(label)
      continue
    }
    for (const target of t.target) {
      graphNode.edges.push({ source: node.id, target: target.id, event, ...(guard == null ? {} : { guard }) })
    }
  }
  return graphNode
}

/** The graph of one machine, derived from its definition */
export function machineGraph (machine: AnyStateMachine, owner: string): MachineGraph {
  const actors = (machine.implementations.actors ?? {}) as Record<string, AnyActorLogic | { src: AnyActorLogic }>
  const childMachines: string[] = []
  for (const logic of Object.values(actors)) {
    const candidate = isMachine(logic) ? logic : (typeof logic === 'object' && 'src' in logic && isMachine(logic.src) ? logic.src : undefined)
    if (candidate != null && !childMachines.includes(candidate.id)) childMachines.push(candidate.id)
  }
  return { id: machine.id, owner, root: walk(machine.root), childMachines }
}

/**
 * Every machine reachable from `machines`: the machines themselves and, recursively,
 * the child machines in their `setup({ actors })`, each once (by machine id).
 */
export function collectMachines (machines: ReadonlyArray<{ owner: string, machine: AnyStateMachine }>): Array<{ owner: string, machine: AnyStateMachine }> {
  const seen = new Map<string, { owner: string, machine: AnyStateMachine }>()
  const visit = (owner: string, machine: AnyStateMachine): void => {
    if (seen.has(machine.id)) return
    seen.set(machine.id, { owner, machine })
    const actors = (machine.implementations.actors ?? {}) as Record<string, unknown>
    for (const logic of Object.values(actors)) {
      if (isMachine(logic)) visit(owner, logic)
      else if (typeof logic === 'object' && logic != null && 'src' in logic && isMachine(logic.src)) visit(owner, logic.src)
    }
  }
  for (const { owner, machine } of machines) visit(owner, machine)
  return [...seen.values()]
}

/**
 * The full ids of the state nodes that a state value makes active (atomic and
 * compound), e.g. `{ online: 'idle' }` in machine `x` gives `x.online`, `x.online.idle`.
 */
export function activeStateIds (graph: MachineGraph, value: StateValue): string[] {
  const ids: string[] = []
  const visit = (node: StateGraphNode, v: StateValue): void => {
    if (typeof v === 'string') {
      const child = node.children.find((c) => c.key === v)
      if (child != null) ids.push(child.id)
      return
    }
    for (const [key, sub] of Object.entries(v)) {
      const child = node.children.find((c) => c.key === key)
      if (child == null) continue
      ids.push(child.id)
      if (sub != null) visit(child, sub as StateValue)
    }
  }
  visit(graph.root, value)
  return ids
}

/** Options of {@link toMermaid} */
export interface MermaidOptions {
  /** Full ids of the states to highlight (class `active`) */
  active?: readonly string[]
  /** Layout direction (default `LR`) */
  direction?: 'LR' | 'TB'
}

/**
 * A mermaid `stateDiagram-v2` of a machine graph. Composite and parallel states
 * become nested `state { }` blocks (parallel regions separated by `--`). Mermaid
 * cannot draw a transition between states nested in different composite states,
 * so such an edge is lifted to the outermost states below their common ancestor
 * (its label keeps the event).
 */
export function toMermaid (graph: MachineGraph, options: MermaidOptions = {}): string {
  const ids = new Map<string, string>(Object.entries(mermaidIds(graph)))
  const parentOf = new Map<string, StateGraphNode>()
  const byId = new Map<string, StateGraphNode>()
  const index = (node: StateGraphNode, parent: StateGraphNode | undefined): void => {
    byId.set(node.id, node)
    if (parent != null) parentOf.set(node.id, parent)
    for (const child of node.children) index(child, node)
  }
  index(graph.root, undefined)
  const mid = (id: string): string => id === '(any state)' ? 'any_state' : (ids.get(id) ?? id.replace(/[^A-Za-z0-9]/g, '_'))
  const ancestors = (id: string): string[] => {
    const chain = [id]
    for (let p = parentOf.get(id); p != null; p = parentOf.get(p.id)) chain.unshift(p.id)
    return chain
  }
  const quote = (text: string): string => text.replace(/"/g, "'").replace(/[;{}#]/g, ' ')
  const lines: string[] = ['stateDiagram-v2', `  direction ${options.direction ?? 'LR'}`]
  const edges: string[] = []
  const ANY = '(any state)'
  let usesAny = false

  const collectEdges = (node: StateGraphNode): void => {
    for (const edge of node.edges) {
      const a = ancestors(edge.source)
      const b = ancestors(edge.target)
      let i = 0
      while (i < a.length && i < b.length && a[i] === b[i]) i++
      let source: string
      let target: string
      if (edge.source === edge.target) {
        source = target = edge.source
      } else if (i === a.length) {
        // from an ancestor into one of its descendants: at the root this is "from any state",
        // deeper down it is drawn as re-entering the child below the ancestor
        target = b[i] ?? edge.target
        source = edge.source === graph.root.id ? ANY : target
      } else if (i === b.length) {
        // back to an ancestor: re-enters the ancestor's child that holds the source
        source = target = a[i] ?? edge.source
      } else {
        source = a[i] ?? edge.source
        target = b[i] ?? edge.target
      }
      if (source === graph.root.id || target === graph.root.id) continue // restarting the whole machine
      if (source === ANY) usesAny = true
      const label = quote(edge.guard == null ? edge.event : `${edge.event} [${edge.guard}]`)
      const line = `  ${mid(source)} --> ${mid(target)} : ${label}`
      if (!edges.includes(line)) edges.push(line) // lifted edges of sibling states can coincide
    }
    for (const child of node.children) collectEdges(child)
  }
  collectEdges(graph.root)

  const declare = (node: StateGraphNode, indent: string): void => {
    lines.push(`${indent}state "${quote(node.key)}" as ${mid(node.id)}`)
    if (node.type === 'final') lines.push(`${indent}${mid(node.id)} --> [*]`)
    if (node.children.length === 0) return
    lines.push(`${indent}state ${mid(node.id)} {`)
    body(node, indent + '  ')
    lines.push(`${indent}}`)
  }
  const body = (node: StateGraphNode, indent: string): void => {
    if (node.type === 'parallel') {
      node.children.forEach((region, i) => {
        if (i > 0) lines.push(`${indent}--`)
        declare(region, indent)
      })
      return
    }
    if (node.initial != null) {
      const initial = node.children.find((c) => c.key === node.initial)
      if (initial != null) lines.push(`${indent}[*] --> ${mid(initial.id)}`)
    }
    for (const child of node.children) declare(child, indent)
  }
  if (graph.root.type === 'parallel') {
    // mermaid cannot separate regions (`--`) at the top level: draw the machine as one composite state
    declare(graph.root, '  ')
  } else {
    body(graph.root, '  ')
  }
  if (usesAny) lines.push('  state "(any state)" as any_state')
  lines.push(...edges)
  lines.push('  classDef active fill:#ffcf5c,stroke:#b45309,stroke-width:3px,color:#111,font-weight:bold')
  const active = (options.active ?? []).filter((id) => byId.get(id)?.children.length === 0).map(mid)
  if (active.length > 0) lines.push(`  class ${active.join(',')} active`)
  return lines.join('\n') + '\n'
}

/** The mermaid node id of every state node of the graph (as {@link toMermaid} names them) */
export function mermaidIds (graph: MachineGraph): Record<string, string> {
  const out: Record<string, string> = {}
  let n = 0
  const visit = (node: StateGraphNode): void => {
    out[node.id] = `s${n++}_${node.key.replace(/[^A-Za-z0-9]/g, '_')}`
    for (const child of node.children) visit(child)
  }
  visit(graph.root)
  return out
}
