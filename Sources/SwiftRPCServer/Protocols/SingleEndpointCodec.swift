import NIOCore
import SwiftRPC

/// Seed 002's single endpoint: `POST /rpc {"fun": "add", "args": [...], "kwargs": {...}}` →
/// `{"ret": value}`, with the native error form. `options` and `?wait=` work as on `/{func}`.
enum SingleEndpointCodec {
    static func respond(to request: RPCRequest, dispatcher: Dispatcher, on eventLoop: any EventLoop) -> RPCReply {
        let name: String
        var call: DecodedCall
        do throws(RPCError) {
            let document: JSONValue
            do {
                document = try request.body.parseJSON()
            } catch {
                throw .badRequest("malformed JSON body: \(error)")
            }
            guard case .object(var fields) = document else { throw .badRequest("the body must be an object {\"fun\": ..., \"args\": [...]}") }
            guard case .string(let fun)? = fields["fun"] else { throw .badRequest("\"fun\" must be the name of the function to call") }
            fields["fun"] = nil
            name = fun
            call = try CallDecoder.decode(json: .object(fields))
            call.wait = try CallDecoder.wait(query: request.query.map(String.init))
        } catch {
            return .now(.error(error))
        }
        return dispatcher.call(named: name, call, on: eventLoop).map { outcome in
            switch outcome.result {
            case .success(let value): .json(["ret": value])
            case .failure(let error): .error(error)
            }
        }
    }
}
