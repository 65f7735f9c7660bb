// SPDX-License-Identifier: Apache-2.0
// kafkajs driver for sluice's integration tests (tests/integration/clients.py runs it).
//
//   node client.js produce|consume|admin|scenario SPEC.json
//
// Records travel as JSON lines {t, p, o, k, v, h} with hex-encoded keys, values and header
// values (null stays null), written to spec.out (default stdout). produce prints {"acked": N}; consume prints one line per record;
// admin prints one line per operation. Any failure exits non-zero with the error on stderr.
'use strict'

const fs = require('fs')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4js = require('lz4js')
const fzstd = require('fzstd')

// kafkajs ships gzip only; the others are plug-ins. LZ4 in Kafka is the LZ4 frame format.
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  async compress(encoder) {
    return Buffer.from(lz4js.compress(encoder.buffer))
  },
  async decompress(buffer) {
    return Buffer.from(lz4js.decompress(buffer))
  },
})
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress() {
    throw new Error('zstd compression is not available in this kafkajs setup (fzstd decodes only)')
  },
  async decompress(buffer) {
    return Buffer.from(fzstd.decompress(buffer))
  },
})

const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

const hex = b => (b === null || b === undefined ? null : Buffer.from(b).toString('hex'))
const unhex = s => (s === null || s === undefined ? null : Buffer.from(s, 'hex'))
// Output goes to the file named by spec.out (written synchronously, so process.exit cannot cut
// a large result short the way it can cut an asynchronous stdout pipe).
let outFd = 1
const out = o => fs.writeSync(outFd, JSON.stringify(o) + '\n')

function client(spec) {
  return new Kafka({
    clientId: spec.clientId || 'sluice-it-kafkajs',
    brokers: spec.brokers,
    logLevel: spec.debug ? logLevel.DEBUG : logLevel.ERROR,
    retry: { retries: 5, initialRetryTime: 100 },
    connectionTimeout: 5000,
    requestTimeout: 30000,
  })
}

async function produce(spec) {
  const kafka = client(spec)
  const producer = kafka.producer({ allowAutoTopicCreation: true, idempotent: false })
  await producer.connect()
  let acked = 0
  const offsets = []
  try {
    // One send per run of records for the same partition keeps per-partition order and
    // lets kafkajs batch (send() sends one request per broker).
    const recs = spec.records
    for (let i = 0; i < recs.length; ) {
      const batch = []
      const bytes = () => batch.reduce((a, m) => a + (m.value ? m.value.length : 0), 0)
      // keep each request's batch under message.max.bytes: a big record goes alone
      while (i < recs.length && batch.length < 500 &&
             (batch.length === 0 || bytes() + (recs[i].v ? recs[i].v.length / 2 : 0) < 256 * 1024)) {
        const r = recs[i++]
        const headers = {}
        for (const [k, v] of r.h) headers[k] = unhex(v)
        batch.push({ partition: r.p, key: unhex(r.k), value: unhex(r.v), headers })
      }
      const res = await producer.send({
        topic: spec.topic,
        acks: spec.acks === undefined ? -1 : spec.acks,
        compression: CODECS[spec.codec || 'none'],
        messages: batch,
      })
      for (const r of res) {
        if (r.errorCode) throw new Error(`produce error ${r.errorCode} on partition ${r.partition}`)
        offsets.push([r.partition, Number(r.baseOffset)])
      }
      acked += batch.length
    }
  } finally {
    await producer.disconnect()
  }
  out({ acked, offsets })
}

function decodeHeaders(h) {
  const l = []
  for (const [k, v] of Object.entries(h || {})) {
    if (Array.isArray(v)) for (const x of v) l.push([k, hex(x)])
    else l.push([k, hex(v)])
  }
  return l
}

// A consumer without a group: kafkajs has no public assign(), so this uses its cluster and
// broker layer (Metadata, ListOffsets-free: starts at offset 0, Fetch v<=11 with its own
// record-batch decoder). Group consumption uses the public consumer below.
async function consumeAssigned(spec) {
  const kafka = client(spec)
  const createCluster = kafka[Object.getOwnPropertySymbols(kafka).find(s => String(s).includes('createCluster'))]
  const cluster = createCluster({ allowAutoTopicCreation: false })
  await cluster.connect()
  const deadline = Date.now() + spec.timeout_ms
  const want = new Map()
  const next = new Map()
  for (const t of spec.topics) {
    for (const [p, n] of Object.entries(t.partitions)) {
      want.set(`${t.topic}/${p}`, n)
      next.set(`${t.topic}/${p}`, 0)
    }
  }
  const got = new Map([...want.keys()].map(k => [k, 0]))
  const done = () => [...want.entries()].every(([k, n]) => got.get(k) >= n)
  try {
    await cluster.refreshMetadata(spec.topics.map(t => t.topic))
    while (!done() && Date.now() < deadline) {
      // group the open partitions by leader
      const byLeader = new Map()
      for (const t of spec.topics) {
        const parts = Object.keys(t.partitions).map(Number).filter(p => got.get(`${t.topic}/${p}`) < want.get(`${t.topic}/${p}`))
        if (!parts.length) continue
        const leaders = cluster.findLeaderForPartitions(t.topic, parts)
        for (const [leader, ps] of Object.entries(leaders)) {
          if (!byLeader.has(leader)) byLeader.set(leader, [])
          byLeader.get(leader).push({
            topic: t.topic,
            partitions: ps.map(p => ({ partition: p, fetchOffset: String(next.get(`${t.topic}/${p}`)), maxBytes: 2 * 1048588 })),
          })
        }
      }
      for (const [leader, topics] of byLeader) {
        const broker = await cluster.findBroker({ nodeId: leader })
        const res = await broker.fetch({ maxWaitTime: 200, minBytes: 1, maxBytes: 16 * 1048588, topics, isolationLevel: 0 })
        for (const tr of res.responses) {
          for (const pr of tr.partitions) {
            if (pr.errorCode) throw new Error(`fetch error ${pr.errorCode} on ${tr.topicName}/${pr.partition}`)
            const key = `${tr.topicName}/${pr.partition}`
            for (const m of pr.messages) {
              const off = Number(m.offset)
              if (off < next.get(key)) continue // a batch may start before the fetch offset
              next.set(key, off + 1)
              got.set(key, got.get(key) + 1)
              out({ t: tr.topicName, p: pr.partition, o: off, k: hex(m.key), v: hex(m.value), h: decodeHeaders(m.headers) })
            }
          }
        }
      }
    }
  } finally {
    await cluster.disconnect()
  }
  out({ done: done(), got: Object.fromEntries(got) })
}

async function consumeGroup(spec) {
  const kafka = client(spec)
  const consumer = kafka.consumer({ groupId: spec.groupId || `sluice-it-${process.pid}-${Date.now()}`, maxBytesPerPartition: 2 * 1048588 })
  const want = new Map()
  for (const t of spec.topics) for (const [p, n] of Object.entries(t.partitions)) want.set(`${t.topic}/${p}`, n)
  const got = new Map([...want.keys()].map(k => [k, 0]))
  const done = () => [...want.entries()].every(([k, n]) => got.get(k) >= n)
  await consumer.connect()
  for (const t of spec.topics) await consumer.subscribe({ topic: t.topic, fromBeginning: true })
  let finish
  const finished = new Promise(resolve => (finish = resolve))
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const key = `${topic}/${partition}`
      got.set(key, (got.get(key) || 0) + 1)
      out({ t: topic, p: partition, o: Number(message.offset), k: hex(message.key), v: hex(message.value), h: decodeHeaders(message.headers) })
      if (done()) finish()
    },
  })
  const timer = setTimeout(finish, spec.timeout_ms)
  await finished
  clearTimeout(timer)
  await consumer.disconnect()
  out({ done: done(), got: Object.fromEntries(got) })
}

async function admin(spec) {
  const kafka = client(spec)
  const adm = kafka.admin()
  await adm.connect()
  try {
    for (const op of spec.ops) {
      let res
      switch (op.op) {
        case 'createTopic':
          res = await adm.createTopics({
            waitForLeaders: true,
            topics: [{ topic: op.topic, numPartitions: op.partitions, replicationFactor: 1, configEntries: Object.entries(op.configs || {}).map(([name, value]) => ({ name, value })) }],
          })
          break
        case 'describeTopicConfigs': {
          const r = await adm.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: op.topic, configNames: op.names || [] }] })
          res = {}
          for (const e of r.resources[0].configEntries) res[e.configName] = { value: e.configValue, isDefault: e.isDefault, readOnly: e.readOnly }
          if (r.resources[0].errorCode) throw new Error(`describeConfigs error ${r.resources[0].errorCode}`)
          break
        }
        case 'createPartitions':
          res = await adm.createPartitions({ topicPartitions: [{ topic: op.topic, count: op.count }] })
          break
        case 'metadata': {
          const md = await adm.fetchTopicMetadata({ topics: [op.topic] })
          res = { partitions: md.topics[0].partitions.length }
          break
        }
        case 'listTopics':
          res = (await adm.listTopics()).sort()
          break
        case 'deleteTopic':
          res = await adm.deleteTopics({ topics: [op.topic], timeout: 10000 })
          break
        case 'offsets':
          res = (await adm.fetchTopicOffsets(op.topic)).map(o => ({ p: o.partition, low: Number(o.low), high: Number(o.high) }))
          break
        default:
          throw new Error(`unknown admin op ${op.op}`)
      }
      out({ op: op.op, result: res === undefined ? null : res })
    }
  } finally {
    await adm.disconnect()
  }
}

async function main() {
  const [cmd, path] = process.argv.slice(2)
  const spec = JSON.parse(fs.readFileSync(path, 'utf8'))
  if (spec.out) outFd = fs.openSync(spec.out, 'w')
  if (cmd === 'produce') await produce(spec)
  else if (cmd === 'consume') await (spec.group ? consumeGroup(spec) : consumeAssigned(spec))
  else if (cmd === 'admin') await admin(spec)
  else throw new Error(`unknown command ${cmd}`)
}

main().then(
  () => process.exit(0),
  e => {
    console.error(`kafkajs client: ${e && e.stack ? e.stack : e}`)
    process.exit(1)
  }
)
