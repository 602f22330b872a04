import NIOCore
import Synchronization
import SwiftRPC

/// Connections open now, shared by every connection of a server, HTTP and TCP alike.
final class ConnectionCounter: Sendable {
    let limit: Int
    /// Connections one client address may hold open; 0 for no limit.
    let perAddressLimit: Int
    private let open = Atomic<Int>(0)
    private let openByAddress = Mutex<[String: Int]>([:])

    init(limit: Int, perAddressLimit: Int = 0) {
        self.limit = limit
        self.perAddressLimit = perAddressLimit
    }

    /// The text of a client's address when connections are counted per address, else `nil`.
    func addressKey(_ address: SocketAddress?) -> String? {
        perAddressLimit > 0 ? address?.ipAddress : nil
    }

    /// Counts a new connection, or says why it is refused (and counts nothing).
    func admit(address: String?) -> RPCError? {
        guard open.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
            open.wrappingSubtract(1, ordering: .relaxed)
            return .unavailable("too many connections (the limit is \(limit)); try again later")
        }
        guard perAddressLimit > 0, let address else { return nil }
        let admitted = openByAddress.withLock { counts in
            let count = counts[address, default: 0]
            guard count < perAddressLimit else { return false }
            counts[address] = count + 1
            return true
        }
        guard admitted else {
            open.wrappingSubtract(1, ordering: .relaxed)
            return .unavailable("too many connections from \(address) (the limit is \(perAddressLimit)); try again later")
        }
        return nil
    }

    func release(address: String?) {
        open.wrappingSubtract(1, ordering: .relaxed)
        guard perAddressLimit > 0, let address else { return }
        openByAddress.withLock { counts in
            let count = counts[address, default: 1] - 1
            counts[address] = count > 0 ? count : nil
        }
    }
}

/// First in every connection's pipeline: a connection over a limit gets `refusal` (an HTTP 503
/// written as raw bytes, before any protocol handler sees it) and is closed. An admitted
/// connection is counted until it closes, and the handler leaves the pipeline (no cost per request).
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let counter: ConnectionCounter
    /// The bytes that answer a refused connection; `nil` closes it without a word (raw TCP,
    /// whose framing is not known before the client's first bytes).
    private let refusal: (@Sendable (RPCError) -> [UInt8])?

    init(counter: ConnectionCounter, refusal: (@Sendable (RPCError) -> [UInt8])?) {
        self.counter = counter
        self.refusal = refusal
    }

    /// A 503 with the error's JSON body.
    static let httpRefusal: @Sendable (RPCError) -> [UInt8] = { error in
        let body = RPCResponse.error(error).body
        let head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + body
    }

    func channelActive(context: ChannelHandlerContext) {
        let address = counter.addressKey(context.channel.remoteAddress)
        if let error = counter.admit(address: address) {
            let channel = context.channel
            guard let refusal else {
                channel.close(promise: nil)
                return
            }
            let bytes = refusal(error)
            var buffer = context.channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
            return  // a refused connection's bytes stop here: channelActive and reads go no further
        }
        let counter = counter
        context.channel.closeFuture.whenComplete { _ in counter.release(address: address) }
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only a refused connection still has this handler; its bytes go nowhere.
    }
}
