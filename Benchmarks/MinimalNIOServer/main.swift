// The baselines of the HTTP benchmarks: the least a SwiftNIO HTTP/1 server can do per request.
//
//     MinimalNIOServer PORT [REDIS-PORT]
//
// Every path answers a constant JSON body. With a Redis port, two more paths first store
// something in Redis, as an enqueue must, with the least work any design can do for it (one
// Redis connection per event loop, a fixed RESP command, replies counted by their newline):
//   /lpush       one `LPUSH` per request: the ceiling of every design that gives each request
//                its own Redis command before answering (swift-rpc's enqueue is one);
//   /lpush-tick  one `LPUSH` per event-loop tick for all the requests that arrived in it: a
//                design that batches requests into shared commands.
// swift-rpc's inline path and its enqueue are measured against these in the same run.
import NIOCore
import NIOHTTP1
import NIOPosix

/// One Redis connection on one event loop. Commands are written as they come and flushed once
/// per tick; each reply (`:<length>\r\n`) answers the oldest command still waiting.
final class RedisLink: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var channel: (any Channel)?
    private var waiting = CircularBuffer<() -> Void>()
    private var flushScheduled = false
    /// Requests of this tick waiting for a shared `LPUSH` (only `/lpush-tick`).
    private var batch: [() -> Void] = []

    func attach(_ channel: any Channel) { self.channel = channel }

    /// `LPUSH minimal x`, answered by `done` once Redis has stored it.
    func push(then done: @escaping () -> Void) {
        write(count: 1, then: done)
    }

    /// Joins this tick's shared `LPUSH`; `done` runs once Redis has stored it.
    func pushInThisTick(then done: @escaping () -> Void) {
        batch.append(done)
        guard batch.count == 1, let channel else { return }
        channel.eventLoop.assumeIsolated().execute {
            let answers = self.batch
            self.batch.removeAll(keepingCapacity: true)
            self.write(count: answers.count) { for answer in answers { answer() } }
        }
    }

    private func write(count: Int, then done: @escaping () -> Void) {
        guard let channel else { return }
        var command = channel.allocator.buffer(capacity: 32 + 7 * count)
        command.writeString("*\(2 + count)\r\n$5\r\nLPUSH\r\n$7\r\nminimal\r\n")
        for _ in 0..<count { command.writeString("$1\r\nx\r\n") }
        waiting.append(done)
        channel.write(command, promise: nil)
        guard !flushScheduled else { return }
        flushScheduled = true
        channel.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            channel.flush()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        for byte in bytes.readableBytesView where byte == UInt8(ascii: "\n") {
            waiting.popFirst()?()
        }
    }
}

final class ConstantHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private static let body = #"{"response":"this is test hi"}"#
    private let redis: RedisLink?
    private var keepAlive = true
    private var path = ""

    init(redis: RedisLink?) { self.redis = redis }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            path = head.uri
        case .body:
            break
        case .end:
            switch (path, redis) {
            case ("/lpush", let redis?): redis.push { self.answer(context: context) }
            case ("/lpush-tick", let redis?): redis.pushInThisTick { self.answer(context: context) }
            default: answer(context: context)
            }
        }
    }

    private func answer(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(Self.body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: Self.body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 8090 : 8090
let redisPort = arguments.count > 2 ? Int(arguments[2]) : nil
let group = MultiThreadedEventLoopGroup.singleton

// Each event loop's Redis link, made on that loop before the server accepts anything.
var links: [ObjectIdentifier: NIOLoopBound<RedisLink>] = [:]
if let redisPort {
    for loop in group.makeIterator() {
        let channel = try await ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: redisPort).get()
        links[ObjectIdentifier(loop)] = try await loop.submit {
            let link = RedisLink()
            try channel.pipeline.syncOperations.addHandler(link)
            link.attach(channel)
            return NIOLoopBound(link, eventLoop: loop)
        }.get()
    }
}
let linksByLoop = links

let channel = try await ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            let redis = linksByLoop[ObjectIdentifier(channel.eventLoop)]?.value
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true)
            try channel.pipeline.syncOperations.addHandler(ConstantHandler(redis: redis))
        }
    }
    .bind(host: "127.0.0.1", port: port)
    .get()
print("minimal NIO server on http://127.0.0.1:\(port)" + (redisPort.map { ", storing in Redis at 127.0.0.1:\($0)" } ?? ""))
try await channel.closeFuture.get()
