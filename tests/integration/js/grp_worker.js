// SPDX-License-Identifier: Apache-2.0
// One kafkajs consumer-group member for tests/integration/test_groups.py (a process of its own
// so a test can SIGKILL it). The kafkajs twin of grp_worker.py:
//
//   node grp_worker.js BOOTSTRAP GROUP TOPIC
//
// Prints JSON lines: {"a": [partitions]} after each assignment (GROUP_JOIN event), {"r": [[p, o],
// ...]} per batch, {"c": true} after a clean stop (SIGTERM: commit, leave, exit 0).
'use strict'

const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

const [bs, group, topic] = process.argv.slice(2)
const out = o => fs.writeSync(1, JSON.stringify(o) + '\n')

async function main() {
  const kafka = new Kafka({
    clientId: 'sluice-it-grp',
    brokers: [bs],
    logLevel: logLevel.ERROR,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
    connectionTimeout: 3000,
    requestTimeout: 30000,
  })
  const consumer = kafka.consumer({
    groupId: group,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    rebalanceTimeout: 10000,
    maxWaitTimeInMs: 200,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
  })
  consumer.on(consumer.events.GROUP_JOIN, e => {
    const a = e.payload.memberAssignment[topic] || []
    out({ a: [...a].sort((x, y) => x - y) })
  })
  let stopping = false
  process.on('SIGTERM', async () => {
    if (stopping) return
    stopping = true
    await consumer.disconnect()
    out({ c: true })
    process.exit(0)
  })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    autoCommitInterval: 200,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      const recs = batch.messages.map(m => [batch.partition, Number(m.offset)])
      for (const m of batch.messages) resolveOffset(m.offset)
      if (recs.length) out({ r: recs })
      await heartbeat()
    },
  })
}

main().catch(e => {
  process.stderr.write(`grp_worker: ${e && e.stack ? e.stack : e}\n`)
  process.exit(1)
})
