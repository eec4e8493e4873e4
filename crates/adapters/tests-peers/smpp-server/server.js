// A real SMPP 3.4 server for lineout's SMPP adapter tests, built on node-smpp
// (the npm package `smpp`). Not for production: it accepts one configured account,
// answers submit_sm with message ids, records what it received, and sends delivery
// receipts back.
//
// Usage: node server.js <port> <record-file> [<options-json>]
//   <port>          TCP port on 127.0.0.1; 0 picks a free one. Once listening, the
//                   server prints `listening <port>` on stdout.
//   <record-file>   JSON lines are appended here: one per bind attempt
//                   ({"kind":"bind",...}), per submit_sm ({"kind":"submit_sm",...}),
//                   per enquire_link, enquire_link_resp, deliver_sm_resp and unbind received.
//   <options-json>  {
//     "system_id": "lineout", "password": "secret",  the one account accepted
//                  (unknown system_id: ESME_RBINDFAIL; wrong password: ESME_RINVPASWD)
//     "refuse_binds_first": N,   answer the first N binds with ESME_RBINDFAIL
//     "throttle_first": N,       answer the first N submit_sm with ESME_RTHROTTLED
//     "queue_full_first": N,     then the next N with ESME_RMSGQFUL
//     "invalid_destinations": ["15550000000"],  answered ESME_RINVDSTADR
//     "receipt_delay_ms": 100,   delay before the deliver_sm receipt (-1: none)
//     "receipt_stat": "DELIVRD", the receipt's stat: value
//     "enquire_link_ms": 0,      if > 0, the server sends enquire_link this often
//     "close_after_submits": 0   if > 0, drop the connection after that many accepted submits
//   }
// Options may also come from the environment variable SMPP_SERVER_OPTIONS (JSON);
// the argument wins.
'use strict';

const fs = require('fs');
const smpp = require('smpp');

// Keep short_message raw (a Buffer) in both directions: the tests check the exact
// bytes (UDH, GSM-7 septets, UCS-2), and receipts are sent as ASCII bytes.
for (const command of ['submit_sm', 'deliver_sm', 'data_sm']) {
  const params = smpp.commands[command] && smpp.commands[command].params;
  if (params && params.short_message) {
    delete params.short_message.filter;
  }
}

const port = Number(process.argv[2] || 0);
const recordFile = process.argv[3];
if (!recordFile) {
  console.error('usage: node server.js <port> <record-file> [<options-json>]');
  process.exit(2);
}
const options = Object.assign(
  {
    system_id: 'lineout',
    password: 'secret',
    refuse_binds_first: 0,
    throttle_first: 0,
    queue_full_first: 0,
    invalid_destinations: [],
    receipt_delay_ms: 100,
    receipt_stat: 'DELIVRD',
    enquire_link_ms: 0,
    close_after_submits: 0,
  },
  JSON.parse(process.env.SMPP_SERVER_OPTIONS || '{}'),
  JSON.parse(process.argv[4] || '{}'),
);

function record(entry) {
  entry.at_ms = Date.now();
  fs.appendFileSync(recordFile, JSON.stringify(entry) + '\n');
}

function toHex(buffer) {
  return Buffer.isBuffer(buffer) ? buffer.toString('hex') : '';
}

// The UDH of a short message whose esm_class has UDHI (0x40), and its concatenation
// information element (0x00: 8-bit reference, 0x08: 16-bit reference), if any.
function parseUdh(bytes) {
  if (!Buffer.isBuffer(bytes) || bytes.length < 1 || bytes[0] + 1 > bytes.length) {
    return { udh: null, concat: null, payload: bytes };
  }
  const udhl = bytes[0];
  const udh = bytes.slice(0, udhl + 1);
  let concat = null;
  let i = 1;
  while (i + 1 < udh.length) {
    const iei = udh[i];
    const len = udh[i + 1];
    const data = udh.slice(i + 2, i + 2 + len);
    if (iei === 0x00 && len === 3) {
      concat = { iei: 0, ref: data[0], total: data[1], seq: data[2] };
    } else if (iei === 0x08 && len === 4) {
      concat = { iei: 8, ref: data.readUInt16BE(0), total: data[2], seq: data[3] };
    }
    i += 2 + len;
  }
  return { udh, concat, payload: bytes.slice(udhl + 1) };
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

function smppDate(d) {
  return pad2(d.getUTCFullYear() % 100) + pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate()) +
    pad2(d.getUTCHours()) + pad2(d.getUTCMinutes());
}

let binds = 0;
let submits = 0;
let accepted = 0;
let nextId = 0x1a2b0000;

const server = smpp.createServer(function (session) {
  let boundAs = null;

  session.on('error', function (e) {
    console.error('session error: ' + e.message);
  });

  function onBind(kind) {
    return function (pdu) {
      binds += 1;
      let status = smpp.ESME_ROK;
      if (binds <= options.refuse_binds_first) {
        status = smpp.ESME_RBINDFAIL;
      } else if (pdu.system_id !== options.system_id) {
        status = smpp.ESME_RBINDFAIL;
      } else if (pdu.password !== options.password) {
        status = smpp.ESME_RINVPASWD;
      }
      record({
        kind: 'bind',
        bind: kind,
        system_id: pdu.system_id,
        system_type: pdu.system_type,
        interface_version: pdu.interface_version,
        status: status,
      });
      if (status !== smpp.ESME_ROK) {
        session.send(pdu.response({ command_status: status }), function () {
          session.close();
        });
        return;
      }
      boundAs = kind;
      session.send(pdu.response({ system_id: 'node-smpp' }));
      if (options.enquire_link_ms > 0) {
        const timer = setInterval(function () {
          session.enquire_link();
        }, options.enquire_link_ms);
        session.on('close', function () {
          clearInterval(timer);
        });
      }
    };
  }
  session.on('bind_transmitter', onBind('transmitter'));
  session.on('bind_transceiver', onBind('transceiver'));
  session.on('bind_receiver', onBind('receiver'));

  session.on('enquire_link', function (pdu) {
    record({ kind: 'enquire_link' });
    session.send(pdu.response());
  });
  session.on('enquire_link_resp', function (pdu) {
    record({ kind: 'enquire_link_resp', status: pdu.command_status });
  });
  session.on('deliver_sm_resp', function (pdu) {
    record({ kind: 'deliver_sm_resp', status: pdu.command_status, sequence: pdu.sequence_number });
  });
  session.on('unbind', function (pdu) {
    record({ kind: 'unbind' });
    session.send(pdu.response(), function () {
      session.close();
    });
  });

  session.on('submit_sm', function (pdu) {
    if (!boundAs || boundAs === 'receiver') {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    submits += 1;
    const bytes = Buffer.isBuffer(pdu.short_message) ? pdu.short_message : Buffer.alloc(0);
    const udhi = (pdu.esm_class & 0x40) !== 0;
    const parsed = udhi ? parseUdh(bytes) : { udh: null, concat: null, payload: bytes };
    let status = smpp.ESME_ROK;
    if (options.invalid_destinations.indexOf(pdu.destination_addr) >= 0) {
      status = smpp.ESME_RINVDSTADR;
    } else if (submits <= options.throttle_first) {
      status = smpp.ESME_RTHROTTLED;
    } else if (submits <= options.throttle_first + options.queue_full_first) {
      status = smpp.ESME_RMSGQFUL;
    }
    const messageId = status === smpp.ESME_ROK ? (nextId++).toString(16) : null;
    record({
      kind: 'submit_sm',
      status: status,
      message_id: messageId,
      service_type: pdu.service_type,
      source_addr: pdu.source_addr,
      source_addr_ton: pdu.source_addr_ton,
      source_addr_npi: pdu.source_addr_npi,
      destination_addr: pdu.destination_addr,
      dest_addr_ton: pdu.dest_addr_ton,
      dest_addr_npi: pdu.dest_addr_npi,
      esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery,
      data_coding: pdu.data_coding,
      short_message_hex: toHex(bytes),
      udh_hex: parsed.udh ? toHex(parsed.udh) : null,
      payload_hex: toHex(parsed.payload),
      concat: parsed.concat,
    });
    if (status !== smpp.ESME_ROK) {
      session.send(pdu.response({ command_status: status }));
      return;
    }
    accepted += 1;
    const closeNow = options.close_after_submits > 0 && accepted === options.close_after_submits;
    session.send(pdu.response({ message_id: messageId }), function () {
      if (closeNow) {
        record({ kind: 'closed_by_server' });
        session.destroy();
      }
    });
    if (!closeNow && options.receipt_delay_ms >= 0 && pdu.registered_delivery & 0x01) {
      const submitted = new Date();
      setTimeout(function () {
        if (boundAs !== 'transceiver' && boundAs !== 'receiver') {
          return;
        }
        const stat = options.receipt_stat;
        const dlvrd = stat === 'DELIVRD' ? '001' : '000';
        const text = 'id:' + messageId + ' sub:001 dlvrd:' + dlvrd + ' submit date:' + smppDate(submitted) +
          ' done date:' + smppDate(new Date()) + ' stat:' + stat + ' err:000 text:';
        session.deliver_sm({
          source_addr_ton: pdu.dest_addr_ton,
          source_addr_npi: pdu.dest_addr_npi,
          source_addr: pdu.destination_addr,
          dest_addr_ton: pdu.source_addr_ton,
          dest_addr_npi: pdu.source_addr_npi,
          destination_addr: pdu.source_addr,
          esm_class: 0x04,
          data_coding: 0,
          short_message: Buffer.from(text, 'ascii'),
          receipted_message_id: messageId,
          message_state: stat === 'DELIVRD' ? 2 : 5,
        });
      }, options.receipt_delay_ms);
    }
  });

  session.on('pdu', function (pdu) {
    if (pdu.command === 'unknown') {
      session.send(pdu.response());
    }
  });
});

server.on('error', function (e) {
  console.error('server error: ' + e.message);
  process.exit(1);
});

server.listen(port, '127.0.0.1', function () {
  process.stdout.write('listening ' + server.address().port + '\n');
});

function stop() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Exit when the parent (the test harness) goes away and closes our stdin.
process.stdin.on('end', stop);
process.stdin.resume();
