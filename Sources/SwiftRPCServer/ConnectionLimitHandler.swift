import NIOCore
import Synchronization
import SwiftRPC

/// Connections open now, shared by all of a server's connections.
final class ConnectionCounter: Sendable {
    let limit: Int
    let open = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }
}

/// First in every connection's pipeline: a connection over the limit gets a 503 (written as
/// raw bytes, before any HTTP handler sees it) and is closed. An admitted connection is
/// counted until it closes, and the handler leaves the pipeline (no cost per request).
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let counter: ConnectionCounter

    init(counter: ConnectionCounter) { self.counter = counter }

    func channelActive(context: ChannelHandlerContext) {
        guard counter.open.wrappingAdd(1, ordering: .relaxed).newValue <= counter.limit else {
            counter.open.wrappingSubtract(1, ordering: .relaxed)
            var body: [UInt8] = []
            JSONWriter.write(RPCError.unavailable("too many connections (the limit is \(counter.limit)); try again later").jsonValue, into: &body)
            var buffer = context.channel.allocator.buffer(capacity: 160 + body.count)
            buffer.writeString(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n")
            buffer.writeBytes(body)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
            return  // a refused connection's bytes stop here: channelActive and reads go no further
        }
        let counter = counter
        context.channel.closeFuture.whenComplete { _ in counter.open.wrappingSubtract(1, ordering: .relaxed) }
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only a refused connection still has this handler; its bytes go nowhere.
    }
}
