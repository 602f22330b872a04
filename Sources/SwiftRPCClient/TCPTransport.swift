import NIOCore
import NIOExtras
import NIOPosix
import Synchronization
import SwiftRPC

/// One raw TCP connection to a front's `--tcp-port` (SPEC §9), length-prefixed: requests are
/// pipelined on it and answers come back in order. It connects on first use (authenticating
/// with the token when there is one) and again after the connection is lost.
final class TCPTransport: Sendable {
    let host: String
    let port: Int
    private let token: String?
    private let timeout: Duration
    private enum Connection {
        case none
        case connecting(EventLoopFuture<any Channel>)
        case open(any Channel)
    }

    private let connection = Mutex(Connection.none)

    init(host: String, port: Int, token: String?, timeout: Duration) {
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout
    }

    deinit {
        if case .open(let channel) = connection.withLock({ $0 }) { channel.close(promise: nil) }
    }

    /// Sends one request object and returns the answer object.
    func roundTrip(_ request: JSONValue) async throws -> JSONValue {
        let channel = try await channel()
        return try await Self.send(request, on: channel, timeout: timeout)
    }

    func close() async {
        let current = connection.withLock { current in
            defer { current = .none }
            return current
        }
        switch current {
        case .open(let channel): try? await channel.close()
        case .connecting(let future): try? await future.get().close()
        case .none: break
        }
    }

    /// The open connection, or a new one when there is none (or it was lost).
    private func channel() async throws -> any Channel {
        let future = connection.withLock { current -> EventLoopFuture<any Channel> in
            switch current {
            case .open(let channel) where channel.isActive:
                return channel.eventLoop.makeSucceededFuture(channel)
            case .connecting(let future):
                return future
            case .open, .none:
                let future = connect()
                current = .connecting(future)
                return future
            }
        }
        do {
            let channel = try await future.get()
            connection.withLock { if case .connecting(let pending) = $0, pending === future { $0 = .open(channel) } }
            return channel
        } catch {
            connection.withLock { if case .connecting(let pending) = $0, pending === future { $0 = .none } }
            throw error
        }
    }

    private func connect() -> EventLoopFuture<any Channel> {
        let token = token
        let timeout = timeout
        let connected = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(3))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldBitLength: .thirtyTwoBits, lengthFieldEndianness: .little)))
                    try channel.pipeline.syncOperations.addHandler(AnswerMatcher())
                }
            }
            .connect(host: host, port: port)
        guard let token else { return connected }
        return connected.flatMap { channel in
            channel.eventLoop.makeFutureWithTask {
                let answer = try await Self.send(["in": "auth", "params": ["token": .string(token)]], on: channel, timeout: timeout)
                guard answer["result"] == .string("ok") else {
                    channel.close(promise: nil)
                    throw RPCClientError(
                        code: answer["error"]?["code"]?.stringValue ?? "unauthorized", message: answer["error"]?["message"]?.stringValue ?? "auth refused",
                        status: 401, jobID: nil)
                }
                return channel
            }
        }
    }

    private static func send(_ request: JSONValue, on channel: any Channel, timeout: Duration) async throws -> JSONValue {
        var bytes: [UInt8] = []
        JSONWriter.write(request, into: &bytes)
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            promise.fail(RPCClientError(code: "timeout", message: "no answer within \(timeout)", status: 0, jobID: nil))
            channel.close(promise: nil)  // the answers behind this one would be out of step
        }
        channel.writeAndFlush(AnswerMatcher.Request(json: bytes, answer: promise), promise: nil)
        defer { timer.cancel() }
        let frame = try await promise.futureResult.get()
        return try JSONParser.parse(Array(frame.readableBytesView))
    }
}

/// Frames requests (4-byte little-endian length) and hands each answer to the oldest request
/// still waiting: the front answers a connection's requests in order.
private final class AnswerMatcher: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Request
    typealias OutboundOut = ByteBuffer

    struct Request {
        var json: [UInt8]
        var answer: EventLoopPromise<ByteBuffer>
    }

    private var waiting = CircularBuffer<EventLoopPromise<ByteBuffer>>()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(request.answer)
        var buffer = context.channel.allocator.buffer(capacity: request.json.count + 4)
        buffer.writeInteger(UInt32(request.json.count), endianness: .little)
        buffer.writeBytes(request.json)
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        waiting.popFirst()?.succeed(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RPCClientError(code: "connection_closed", message: "the front closed the TCP connection", status: 0, jobID: nil))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}
