// A load client for length-prefixed JSON over TCP (SPEC §9), written in Swift because a Python
// client saturates long before either server does. It drives SwiftRPC's TCP port and the
// seed 004 peer with exactly the same bytes:
//
//     TCPLoad PORT CONNECTIONS DEPTH SECONDS
//
// Each connection keeps DEPTH requests of `add(1, 2)` in flight (1: request, answer, request;
// 16: pipelined) for SECONDS after a 2 s warm-up, then prints answers per second. The first
// answer of every connection is checked to be `{"out": "add", "result": 3}`. The last field
// counts every answer, warm-up included, for CPU time per request.
import Foundation
import NIOCore
import NIOPosix
import Synchronization

let arguments = CommandLine.arguments
guard arguments.count == 5, let port = Int(arguments[1]), let connections = Int(arguments[2]), let depth = Int(arguments[3]),
    let seconds = Double(arguments[4])
else {
    print("usage: TCPLoad PORT CONNECTIONS DEPTH SECONDS")
    exit(64)
}

let request: [UInt8] = {
    let json = Array(#"{"in": "add", "params": [1, 2]}"#.utf8)
    return withUnsafeBytes(of: UInt32(json.count).littleEndian, Array.init) + json
}()
/// Shared by every connection's handler.
final class Counters: Sendable {
    let answers = Atomic<Int>(0)
    /// Every answer, warm-up included (for CPU per request from the server's CPU time).
    let allAnswers = Atomic<Int>(0)
    let counting = Atomic<Bool>(false)
    let stopped = Atomic<Bool>(false)
    let wrongAnswers = Atomic<Int>(0)
}
let counters = Counters()

/// Counts whole answer frames (read by their length prefix) and sends one request per answer.
final class LoadHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let request: [UInt8]
    private let depth: Int
    private let counters: Counters
    private var pending = ByteBuffer()
    private var checkedFirst = false

    init(request: [UInt8], depth: Int, counters: Counters) {
        self.request = request
        self.depth = depth
        self.counters = counters
    }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: request.count * depth)
        for _ in 0..<depth { buffer.writeBytes(request) }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        pending.writeBuffer(&chunk)
        var complete = 0
        while let length = pending.getInteger(at: pending.readerIndex, endianness: .little, as: UInt32.self),
            pending.readableBytes >= 4 + Int(length)
        {
            if !checkedFirst {
                checkedFirst = true
                let body = pending.getString(at: pending.readerIndex + 4, length: Int(length)) ?? ""
                if body.replacingSpaces != #"{"out":"add","result":3}"# { counters.wrongAnswers.add(1, ordering: .relaxed) }
            }
            pending.moveReaderIndex(forwardBy: 4 + Int(length))
            complete += 1
        }
        pending.discardReadBytes()
        guard complete > 0 else { return }
        counters.allAnswers.add(complete, ordering: .relaxed)
        if counters.counting.load(ordering: .relaxed) { counters.answers.add(complete, ordering: .relaxed) }
        guard !counters.stopped.load(ordering: .relaxed) else { return }
        var buffer = context.channel.allocator.buffer(capacity: request.count * complete)
        for _ in 0..<complete { buffer.writeBytes(request) }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }
}

extension String {
    var replacingSpaces: String { String(filter { $0 != " " }) }
}

let threads = Int(ProcessInfo.processInfo.environment["TCPLOAD_THREADS"] ?? "") ?? System.coreCount
let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
var channels: [any Channel] = []
for _ in 0..<connections {
    channels.append(
        try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(LoadHandler(request: request, depth: depth, counters: counters)) }
            }
            .connect(host: "127.0.0.1", port: port).get())
}
try await Task.sleep(for: .seconds(2))  // warm-up
counters.counting.store(true, ordering: .relaxed)
let start = ContinuousClock.now
try await Task.sleep(for: .seconds(seconds))
let counted = counters.answers.load(ordering: .relaxed)
let elapsed = ContinuousClock.now - start
counters.stopped.store(true, ordering: .relaxed)
let rate = Double(counted) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
print("tcp\tconnections=\(connections)\tdepth=\(depth)\t\(Int(rate))\tall_answers=\(counters.allAnswers.load(ordering: .relaxed))")
if counters.wrongAnswers.load(ordering: .relaxed) > 0 { print("warning: \(counters.wrongAnswers.load(ordering: .relaxed)) connections got a wrong first answer") }
for channel in channels { channel.close(promise: nil) }
try await group.shutdownGracefully()
