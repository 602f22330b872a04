import NIOCore
import NIOHTTP1
import SwiftRPC

/// Where a request came from and the event loop it is answered on.
public struct RequestContext: Sendable {
    /// The client socket's address (`nil` for a unix socket).
    public var remoteAddress: SocketAddress?
    public var eventLoop: any EventLoop

    public init(remoteAddress: SocketAddress?, eventLoop: any EventLoop) {
        self.remoteAddress = remoteAddress
        self.eventLoop = eventLoop
    }

    /// The client address as text, made only when a filter asks (an IP filter is configured).
    public var peer: String? { remoteAddress?.ipAddress }
}

/// Anything that answers an HTTP request: the routes, and each middleware wrapped around them.
public protocol HTTPResponder: Sendable {
    func respond(to request: RPCRequest, context: RequestContext) -> RPCReply
}

/// SPEC §7's filters, User-Agent → client IP → token/JWT, in front of every route but
/// `/healthz` (which stays open for probes). A refusal is answered here; nothing behind runs.
public struct AccessFilter<Next: HTTPResponder>: HTTPResponder {
    let policy: AccessPolicy
    let next: Next

    public init(policy: AccessPolicy, next: Next) {
        self.policy = policy
        self.next = next
    }

    public func respond(to request: RPCRequest, context: RequestContext) -> RPCReply {
        guard request.path != "/healthz" else { return next.respond(to: request, context: context) }
        switch policy.check(headers: request.headers, peer: context.peer) {
        case .allowed:
            return next.respond(to: request, context: context)
        case .refused(let error):
            return .now(.error(error))
        case .verifyJWT(let token):
            guard let verifier = policy.jwt else { return .now(.error(RPCError(.unauthorized, "the token is not valid"))) }
            let next = next
            return .later(
                context.eventLoop.makeFutureWithTask { await verifier.verify(token) }.flatMap { refusal in
                    if let refusal { return context.eventLoop.makeSucceededFuture(.error(refusal)) }
                    return next.respond(to: request, context: context).future(on: context.eventLoop)
                })
        }
    }
}

/// The `Encryption:` header (SPEC §7): the body is decoded before anything reads it (a failure
/// is a 400 and nothing runs), and with `aes-gcm` every answer is sealed the same way.
public struct Decryption<Next: HTTPResponder>: HTTPResponder {
    let encryption: BodyEncryption
    let next: Next

    public init(encryption: BodyEncryption, next: Next) {
        self.encryption = encryption
        self.next = next
    }

    public func respond(to request: RPCRequest, context: RequestContext) -> RPCReply {
        guard let header = request.headers.first(name: "encryption") else { return next.respond(to: request, context: context) }
        var decoded = request
        let mode: BodyEncryption.Mode
        do {
            mode = try encryption.mode(for: header)
            decoded.body = ByteBuffer(bytes: try encryption.decode(Array(request.body.readableBytesView), mode: mode))
        } catch {
            return .now(.error(error))
        }
        let encryption = encryption
        return next.respond(to: decoded, context: context).map { response in
            guard let sealed = encryption.encodeAnswer(response.body, mode: mode) else { return response }
            var answer = response
            answer.body = sealed
            answer.contentType = "text/plain; charset=utf-8"
            answer.headers.append(("Encryption", "aes-gcm"))
            return answer
        }
    }
}
