import { stateString } from '../machine.js'
import { activeStateIds, isMachine, machineGraph } from './graph.js'
import type { MachineGraph } from './graph.js'
import type { InspectionEvent, StateValue } from 'xstate'

/** A live actor as the inspector shows it */
export interface ActorInfo {
  /** Globally unique id of the actor (XState's `sessionId`) */
  sessionId: string
  /** Id relative to its parent (for spawned children: the stable id the package gave it) */
  id: string
  /** A readable name: the system id, the invoked `src` name, or the id */
  label: string
  systemId?: string
  /** `sessionId` of the parent actor */
  parent?: string
  /** Id of the machine definition (see `/api/machines`), for machine actors */
  machine?: string
  /** Current state value (machine actors) */
  value?: StateValue
  /** The state value as one string, e.g. `running.idle` (see {@link stateString}) */
  state?: string
  /** Full ids of the active state nodes (machine actors) */
  active?: string[]
  status: 'active' | 'done' | 'error' | 'stopped'
  /** Type of the last event the actor processed */
  lastEvent?: string
  /** When it last changed (ms since epoch) */
  updatedAt: number
}

/** One entry of the inspection stream */
export type InspectionRecord =
  | { kind: 'actor', seq: number, at: number, actor: ActorInfo }
  | { kind: 'snapshot', seq: number, at: number, sessionId: string, event: string, value?: StateValue, state?: string, active?: string[], status: ActorInfo['status'] }
  | { kind: 'event', seq: number, at: number, source?: string, sourceLabel?: string, target: string, targetLabel: string, event: string, payload?: string }
  | { kind: 'stopped', seq: number, at: number, sessionId: string }

type Listener = (record: InspectionRecord) => void

/** The runtime fields of an XState actor that inspection events carry (typed as `ActorRefLike`) */
interface InspectedActor {
  sessionId: string
  id?: string
  systemId?: string
  src?: unknown
  logic?: unknown
  _parent?: { sessionId: string }
}

function asActor (ref: unknown): InspectedActor {
  return ref as InspectedActor
}

/**
 * A short, bounded summary of an event's payload for the log: at most a few keys
 * and levels, class instances (libp2p nodes, databases) named but never walked.
 */
export function summarize (value: unknown, maxLength = 240): string | undefined {
  const seen = new WeakSet<object>()
  const walk = (v: unknown, depth: number): unknown => {
    if (v == null || typeof v === 'boolean' || typeof v === 'number') return v
    if (typeof v === 'string') return v.length > 80 ? `${v.slice(0, 77)}...` : v
    if (typeof v === 'bigint') return `${v}n`
    if (typeof v === 'function') return '[function]'
    if (typeof v !== 'object') return String(v)
    if (v instanceof Error) return `[${v.name}: ${v.message.slice(0, 80)}]`
    if (seen.has(v)) return '[circular]'
    seen.add(v)
    if (Array.isArray(v)) {
      if (depth >= 2) return `[${v.length} items]`
      const items = v.slice(0, 5).map((x) => walk(x, depth + 1))
      return v.length > 5 ? [...items, `... ${v.length - 5} more`] : items
    }
    const proto = Object.getPrototypeOf(v) as object | null
    if (proto !== Object.prototype && proto !== null) return `[${(v.constructor as { name?: string } | undefined)?.name ?? 'object'}]`
    if (depth >= 2) return '{...}'
    const out: Record<string, unknown> = {}
    const entries = Object.entries(v)
    for (const [k, x] of entries.slice(0, 8)) out[k] = walk(x, depth + 1)
    if (entries.length > 8) out['...'] = `${entries.length - 8} more`
    return out
  }
  if (typeof value !== 'object' || value == null) return value == null ? undefined : String(value)
  const { type: _type, ...rest } = value as Record<string, unknown>
  if (Object.keys(rest).length === 0) return undefined
  const text = JSON.stringify(walk(rest, 0))
  return text.length > maxLength ? `${text.slice(0, maxLength - 3)}...` : text
}

/**
 * Collects XState inspection events of every actor of a peer (the app's root
 * machine, each package machine and all their spawned or invoked children) into
 * a table of live actors and a bounded log, and streams them to listeners (the
 * inspector page). Pass {@link InspectionRecorder.inspect} as the `inspect`
 * option of each actor.
 */
export class InspectionRecorder {
  private readonly actors = new Map<string, ActorInfo>()
  private readonly graphs = new Map<string, MachineGraph>()
  private readonly log: InspectionRecord[] = []
  private readonly listeners = new Set<Listener>()
  private seq = 0

  constructor (private readonly options: { logSize?: number, owners?: Record<string, string> } = {}) {}

  /** The inspection observer: pass it as `inspect` to `createActor` (or a package factory) */
  readonly inspect = (event: InspectionEvent): void => {
    try {
      this.record(event)
    } catch {
      // inspection must never break the inspected actor
    }
  }

  /**
   * Record an actor that was created before this recorder was attached to its
   * system (`actor.system.inspect(recorder.inspect)`): itself, its current state and
   * its current children, recursively.
   */
  adopt (actorRef: unknown): void {
    const ref = asActor(actorRef)
    const info = this.register(ref)
    const snapshot = (actorRef as { getSnapshot?: () => unknown }).getSnapshot?.() as { status?: ActorInfo['status'], value?: StateValue, children?: Record<string, unknown> } | undefined
    if (snapshot == null) return
    info.status = snapshot.status ?? 'active'
    if (info.machine != null && snapshot.value != null) {
      info.value = snapshot.value
      info.state = stateString(snapshot.value)
      const graph = this.graphs.get(info.machine)
      info.active = graph == null ? [] : activeStateIds(graph, snapshot.value)
      this.push({ kind: 'snapshot', seq: ++this.seq, at: Date.now(), sessionId: info.sessionId, event: '(adopted)', value: info.value, state: info.state, active: info.active, status: info.status })
    }
    for (const child of Object.values(snapshot.children ?? {})) if (child != null) this.adopt(child)
  }

  /** Every live actor */
  liveActors (): ActorInfo[] {
    return [...this.actors.values()]
  }

  /** The machine graphs of the actors seen so far, by machine id */
  machineGraphs (): MachineGraph[] {
    return [...this.graphs.values()]
  }

  /** The recent log (events, snapshots, actors appearing and stopping), oldest first */
  recent (limit = 500): InspectionRecord[] {
    return this.log.slice(-limit)
  }

  /** Get every record from now on; returns the unsubscribe function */
  subscribe (listener: Listener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private push (record: InspectionRecord): void {
    this.log.push(record)
    const max = this.options.logSize ?? 2000
    if (this.log.length > max) this.log.splice(0, this.log.length - max)
    for (const listener of this.listeners) {
      try { listener(record) } catch { /* a failing listener does not stop the others */ }
    }
  }

  private labelOf (actor: InspectedActor): string {
    if (actor.systemId != null) return actor.systemId
    const id = actor.id ?? actor.sessionId
    // invoked without an id: XState names them `0.machine.state`; show the src name instead
    if (/^\d+\./.test(id) && typeof actor.src === 'string') return actor.src
    if (isMachine(actor.logic) && actor.logic.id !== '(machine)' && actor._parent == null) return actor.logic.id
    return id
  }

  private register (ref: InspectedActor): ActorInfo {
    let info = this.actors.get(ref.sessionId)
    if (info != null) {
      // XState sets `systemId` only after announcing the actor: name it again once it has one
      if (ref.systemId != null && info.systemId !== ref.systemId) {
        info.systemId = ref.systemId
        info.label = this.labelOf(ref)
        this.push({ kind: 'actor', seq: ++this.seq, at: Date.now(), actor: { ...info } })
      }
      return info
    }
    let machine: string | undefined
    if (isMachine(ref.logic)) {
      machine = ref.logic.id
      if (!this.graphs.has(machine)) this.graphs.set(machine, machineGraph(ref.logic, this.options.owners?.[machine] ?? 'unknown'))
    }
    info = {
      sessionId: ref.sessionId,
      id: ref.id ?? ref.sessionId,
      label: this.labelOf(ref),
      ...(ref.systemId == null ? {} : { systemId: ref.systemId }),
      ...(ref._parent == null ? {} : { parent: ref._parent.sessionId }),
      ...(machine == null ? {} : { machine }),
      status: 'active',
      updatedAt: Date.now()
    }
    this.actors.set(ref.sessionId, info)
    this.push({ kind: 'actor', seq: ++this.seq, at: info.updatedAt, actor: { ...info } })
    return info
  }

  private stopped (sessionId: string): void {
    const info = this.actors.get(sessionId)
    if (info == null) return
    // its own children go with it
    for (const child of this.actors.values()) {
      if (child.parent === sessionId) this.stopped(child.sessionId)
    }
    this.actors.delete(sessionId)
    this.push({ kind: 'stopped', seq: ++this.seq, at: Date.now(), sessionId })
  }

  private record (event: InspectionEvent): void {
    const ref = asActor(event.actorRef)
    if (event.type === '@xstate.actor') {
      this.register(ref)
      return
    }
    if (event.type === '@xstate.event') {
      const target = this.register(ref)
      const source = event.sourceRef == null ? undefined : this.actors.get(asActor(event.sourceRef).sessionId)
      const payload = summarize(event.event)
      this.push({
        kind: 'event',
        seq: ++this.seq,
        at: Date.now(),
        ...(source == null ? {} : { source: source.sessionId, sourceLabel: source.label }),
        target: target.sessionId,
        targetLabel: target.label,
        event: String(event.event.type),
        ...(payload == null ? {} : { payload })
      })
      return
    }
    if (event.type === '@xstate.snapshot') {
      const info = this.register(ref)
      const snapshot = event.snapshot as { status?: ActorInfo['status'], value?: StateValue, children?: Record<string, { sessionId: string } | undefined> }
      info.status = snapshot.status ?? 'active'
      info.lastEvent = String(event.event.type)
      info.updatedAt = Date.now()
      if (info.machine != null && snapshot.value != null) {
        info.value = snapshot.value
        info.state = stateString(snapshot.value)
        const graph = this.graphs.get(info.machine)
        info.active = graph == null ? [] : activeStateIds(graph, snapshot.value)
      }
      this.push({
        kind: 'snapshot',
        seq: ++this.seq,
        at: info.updatedAt,
        sessionId: info.sessionId,
        event: info.lastEvent,
        ...(info.value == null ? {} : { value: info.value, state: info.state }),
        ...(info.active == null ? {} : { active: info.active }),
        status: info.status
      })
      // A child that is no longer among the machine's children has stopped
      // (XState sends no inspection event when an actor stops).
      if (snapshot.children != null) {
        const current = new Set(Object.values(snapshot.children).filter((c) => c != null).map((c) => c.sessionId))
        for (const child of [...this.actors.values()]) {
          if (child.parent === info.sessionId && !current.has(child.sessionId)) this.stopped(child.sessionId)
        }
      }
      // done, failed or stopped: not live any more (the log keeps its last state)
      if (info.status !== 'active') this.stopped(info.sessionId)
    }
  }
}
