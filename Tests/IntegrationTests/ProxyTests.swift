import Foundation
import ProcessSupport
import Testing
import TestSupport

/// The shipped `docker/nginx.conf` in front of a live stack, with a real nginx (Debian's, which
/// scripts/bootstrap installs): the front learns the client's address through it, believes no
/// header forged by a client, and applies `allowed_ips` to the address nginx reports. Clients
/// connect from other loopback addresses (127.0.0.2, 127.0.0.3) than nginx (127.0.0.1).
@Suite("nginx in front")
struct ProxyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Starts nginx with the shipped site, pointed at the front; returns its port and process.
    func startNginx(_ stack: Stack) async throws -> (port: Int, process: ChildProcess) {
        let shipped = try String(contentsOfFile: Self.root + "/docker/nginx.conf", encoding: .utf8)
        #expect(shipped.contains("    server front:8080;") && shipped.contains("    listen 80;"))
        let port = try freePort()
        let site = shipped.replacingOccurrences(of: "server front:8080;", with: "server 127.0.0.1:\(stack.frontPort);")
            .replacingOccurrences(of: "listen 80;", with: "listen 127.0.0.1:\(port);")
        let directory = stack.directory + "/nginx"
        try FileManager.default.createDirectory(atPath: directory + "/tmp", withIntermediateDirectories: true)
        try site.write(toFile: directory + "/site.conf", atomically: true, encoding: .utf8)
        let main = """
            daemon off;
            user root root;
            worker_processes 1;
            pid \(directory)/nginx.pid;
            error_log \(directory)/error.log;
            events { worker_connections 64; }
            http {
                access_log \(directory)/access.log;
                client_body_temp_path \(directory)/tmp/body;
                proxy_temp_path \(directory)/tmp/proxy;
                fastcgi_temp_path \(directory)/tmp/fastcgi;
                uwsgi_temp_path \(directory)/tmp/uwsgi;
                scgi_temp_path \(directory)/tmp/scgi;
                include \(directory)/site.conf;
            }
            """
        try main.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        let binary = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx"
        let process = try ChildProcess(executable: binary, arguments: ["-c", directory + "/nginx.conf", "-p", directory], outputPath: directory + "/stderr.log")
        for _ in 0..<100 {
            if let health = try? await httpRequest(port: port, method: "GET", path: "/healthz"), health.status == 200 { return (port, process) }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? ""
        await process.terminate()
        throw TestSupportError("nginx did not answer:\n\(log)")
    }

    /// `POST /add` from `source` to `port`, with `forged` in both proxy headers: status and body.
    func call(port: Int, from source: String, forged: String? = nil, in directory: String) async throws -> (Int, String) {
        let log = directory + "/proxy_client_\(source)_\(forged ?? "-")_\(port).log"
        let script = Self.root + "/Tests/Clients/proxy_client.py"
        let client = try ChildProcess(executable: "python3", arguments: [script, "127.0.0.1", String(port), source] + (forged.map { [$0] } ?? []), outputPath: log)
        _ = await client.wait(timeout: .seconds(30))
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let parts = output.split(separator: " ", maxSplits: 1)
        return (Int(parts.first ?? "") ?? -1, parts.count > 1 ? String(parts[1]) : output)
    }

    @Test(.timeLimit(.minutes(2))) func theShippedNginxConfigPassesTheClientsAddressAndNoForgedOne() async throws {
        let stack = try await Stack.start(front: false)
        let config = stack.directory + "/config.json"
        try #"{"allowed_ips": ["127.0.0.2/32"], "trusted_proxies": ["127.0.0.1/32"]}"#.write(toFile: config, atomically: true, encoding: .utf8)
        var nginx: ChildProcess?
        do {
            try await stack.startFront(arguments: ["--config", config])
            let started = try await startNginx(stack)
            nginx = started.process
            let nginxPort = started.port

            // Through nginx: the front sees nginx (127.0.0.1), trusts it, and filters on the client.
            let allowed = try await call(port: nginxPort, from: "127.0.0.2", in: stack.directory)
            #expect(allowed.0 == 200 && allowed.1.contains(#""response":3"#), "\(allowed)")
            let refused = try await call(port: nginxPort, from: "127.0.0.3", in: stack.directory)
            #expect(refused.0 == 403 && refused.1.contains("client address 127.0.0.3 is not allowed"), "\(refused)")

            // A client that forges both headers is still itself: nginx overwrites X-Real-IP and
            // appends to X-Forwarded-For, and the front reads the rightmost untrusted entry.
            let forged = try await call(port: nginxPort, from: "127.0.0.3", forged: "127.0.0.2", in: stack.directory)
            #expect(forged.0 == 403 && forged.1.contains("client address 127.0.0.3 is not allowed"), "\(forged)")

            // Straight to the front, headers from an untrusted peer count for nothing.
            let direct = try await call(port: stack.frontPort, from: "127.0.0.3", forged: "127.0.0.2", in: stack.directory)
            #expect(direct.0 == 403 && direct.1.contains("client address 127.0.0.3 is not allowed"), "\(direct)")
            let directAllowed = try await call(port: stack.frontPort, from: "127.0.0.2", in: stack.directory)
            #expect(directAllowed.0 == 200, "\(directAllowed)")

            // The dashboard and its API sit behind the same filter (this test's own address, 127.0.0.1, is not allowed).
            for path in ["/dashboard", "/api/overview"] {
                let refusedPage = try await httpRequest(port: stack.frontPort, method: "GET", path: path)
                #expect(refusedPage.status == 403 && refusedPage.text.contains("client address 127.0.0.1 is not allowed"), "\(path): \(refusedPage.text)")
            }

            let accessLog = (try? String(contentsOfFile: stack.directory + "/nginx/access.log", encoding: .utf8)) ?? ""
            #expect(accessLog.contains("127.0.0.2 ") && accessLog.contains("127.0.0.3 "))
        } catch {
            _ = await nginx?.terminate()
            await stack.stop()
            throw error
        }
        _ = await nginx?.terminate()
        await stack.stop()
    }
}
