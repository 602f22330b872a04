import NIOCore
import SwiftRPC

/// Per-connection timers, in front of the HTTP decoder: a kept-alive connection with no
/// request for `idleTimeout` is closed; a request that has not fully arrived `requestTimeout`
/// after its first byte (a slow or stalled client) gets 408 and the connection is closed.
final class ConnectionTimeoutHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Told by the HTTP handler of the same connection when a request has fully arrived and
    /// when its answer is out.
    final class Events {
        var requestArrived: () -> Void = {}
        var answerWritten: () -> Void = {}
    }

    private let idleTimeout: TimeAmount
    private let requestTimeout: TimeAmount
    let events = Events()
    private var idleTimer: Scheduled<Void>?
    private var requestTimer: Scheduled<Void>?
    /// A request has fully arrived and is being answered: its time no longer counts.
    private var answering = false

    init(idleTimeout: TimeAmount, requestTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        events.requestArrived = {
            let (handler, _) = loopBound.value
            handler.requestTimer?.cancel()
            handler.requestTimer = nil
            // A pipelined request may arrive after the idle timer was armed for the one before.
            handler.idleTimer?.cancel()
            handler.idleTimer = nil
            handler.answering = true
        }
        events.answerWritten = {
            let (handler, context) = loopBound.value
            handler.answering = false
            handler.armIdleTimer(context: context)
        }
        if context.channel.isActive { armIdleTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        idleTimer?.cancel()
        idleTimer = nil
        if requestTimer == nil && !answering {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            requestTimer = context.eventLoop.scheduleTask(in: requestTimeout) {
                let (handler, context) = loopBound.value
                handler.refuseSlowRequest(context: context)
            }
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        requestTimer?.cancel()
    }

    private func armIdleTimer(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        let channel = context.channel
        idleTimer = context.eventLoop.scheduleTask(in: idleTimeout) { channel.close(promise: nil) }
    }

    private func refuseSlowRequest(context: ChannelHandlerContext) {
        var body: [UInt8] = []
        JSONWriter.write(RPCError(.requestTimeout, "the request did not arrive in time").jsonValue, into: &body)
        var buffer = context.channel.allocator.buffer(capacity: 128 + body.count)
        buffer.writeString("HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n")
        buffer.writeBytes(body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
