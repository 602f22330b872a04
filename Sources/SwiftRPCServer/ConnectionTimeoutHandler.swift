import NIOCore
import SwiftRPC

/// Per-connection timers, in front of the HTTP decoder: a kept-alive connection with no
/// request for `idleTimeout` is closed; a request that has not fully arrived `requestTimeout`
/// after its first byte (a slow or stalled client) gets 408 and the connection is closed.
/// Requests only note timestamps; one timer per connection checks them and re-arms itself
/// at the next deadline, so the hot path schedules nothing.
final class ConnectionTimeoutHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What the connection is doing, told by the HTTP handler of the same connection when a
    /// request has fully arrived and when its answer is out. A plain value holder, so that
    /// nothing it holds points back at a handler (closures that captured the handler made a
    /// cycle that kept every connection's pipeline alive after it closed).
    final class Events {
        /// When the first byte of the request now arriving came; `nil` between requests.
        fileprivate var requestStartedAt: NIODeadline?
        /// Since when the connection has had nothing to do; `nil` while a request is in hand.
        fileprivate var idleSince: NIODeadline?

        func requestArrived() {
            requestStartedAt = nil
            idleSince = nil
        }

        func answerWritten() {
            idleSince = .now()
        }
    }

    private let idleTimeout: TimeAmount
    private let requestTimeout: TimeAmount
    let events = Events()
    private var check: Scheduled<Void>?

    init(idleTimeout: TimeAmount, requestTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Bytes while idle start a request; bytes while one is answered (pipelining) wait their turn.
        if events.requestStartedAt == nil && events.idleSince != nil { events.requestStartedAt = .now() }
        events.idleSince = nil
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
    }

    private func start(context: ChannelHandlerContext) {
        guard check == nil else { return }
        events.idleSince = .now()
        arm(at: .now() + min(idleTimeout, requestTimeout), context: context)
    }

    private func arm(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.fire(context: context)
        }
    }

    private func fire(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        if let started = events.requestStartedAt, now - started >= requestTimeout {
            refuseSlowRequest(context: context)
            return
        }
        if let idle = events.idleSince, now - idle >= idleTimeout {
            context.close(promise: nil)
            return
        }
        var next = now + min(idleTimeout, requestTimeout)
        if let started = events.requestStartedAt { next = min(next, started + requestTimeout) }
        if let idle = events.idleSince { next = min(next, idle + idleTimeout) }
        arm(at: next, context: context)
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
