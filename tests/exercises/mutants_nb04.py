"""Mistakes in notebook 04's exercises that its checks must catch (see ``tests/mutation.py``)."""

from mutation import Mutant

SERVER, CLIENT = "resnet_model_server", "test_client"

MUTANTS = [
    # envelope_and_body
    Mutant(module=SERVER, exercise="envelope_and_body", mistake="envelope split at the last empty frame",
           before='    cut = 2 if len(frames) > 2 and frames[1] == b"" else 1',
           after='    cut = len(frames) - frames[::-1].index(b"") if b"" in frames else 1',
           hint="not at the last one"),
    Mutant(module=SERVER, exercise="envelope_and_body", mistake="envelope without the delimiter",
           before="    return frames[:cut], frames[cut:]", after="    return frames[:1], frames[cut:]",
           hint="keeps the empty delimiter"),
    # RequestHandler.reply_to
    Mutant(module=SERVER, exercise="RequestHandler", mistake="reply_to catches only RequestError",
           before='''        except Exception:
            log.exception("request failed")
            return encode_error(ErrorCode.INTERNAL, "the server failed on this request", request_id,
                                original=original)
''', after="", hint="it must never raise"),
    Mutant(module=SERVER, exercise="RequestHandler", mistake="classify_image's pair used as the predictions",
           before="            predictions, _ = classify_image(self.classifier, image, self.top)",
           after="            predictions = classify_image(self.classifier, image, self.top)",
           hint="your catch-all caught TypeError"),
    Mutant(module=SERVER, exercise="RequestHandler", mistake="a success reply without the request's id",
           before='''                if request_id is not None:
                    reply["id"] = request_id
''', after="", hint='"id" must come back in its reply'),
    Mutant(module=SERVER, exercise="RequestHandler", mistake="an internal error reply without the id",
           before='return encode_error(ErrorCode.INTERNAL, "the server failed on this request", request_id,',
           after='return encode_error(ErrorCode.INTERNAL, "the server failed on this request", None,',
           hint='must echo its "id"'),
    Mutant(module=SERVER, exercise="RequestHandler", mistake="bad JSON answered bad_request",
           before='raise RequestError("the request is not valid JSON", ErrorCode.BAD_JSON) from None',
           after='raise RequestError("the request is not valid JSON") from None',
           hint='"code": "bad_json"'),
    # RequestHandler.run
    Mutant(module=SERVER, exercise="RequestHandler", mistake="run answers a request of two frames",
           before='''        if len(self.body) == 1:
            reply = self.reply_to(self.body[0])
        else:
            reply = encode_error(ErrorCode.BAD_REQUEST, ONE_FRAME)''',
           after="        reply = self.reply_to(self.body[0])", hint="not exactly one frame"),
    Mutant(module=SERVER, exercise="RequestHandler", mistake="run never closes its DEALER",
           before='''        finally:
            handler.close(linger=0)''', after='''        finally:
            pass''', hint="left its DEALER socket open"),
    Mutant(module=SERVER, exercise="RequestHandler", mistake="run sends the reply without the envelope",
           before="            handler.send_multipart([*self.envelope, reply])",
           after="            handler.send_multipart([reply])",
           hint="the backend should receive [*envelope, reply_to(request)]"),
    # Server
    Mutant(module=SERVER, exercise="Server", mistake="the loop forwards only the reply frame",
           before="                    frontend.send_multipart(backend.recv_multipart())",
           after="                    frontend.send_multipart(backend.recv_multipart()[-1:])",
           hint="every frame as it came"),
    Mutant(module=SERVER, exercise="Server", mistake="serve does not close its sockets",
           before='''        finally:
            frontend.close(linger=0)
            backend.close(linger=0)''', after="", hint="without closing its frontend and backend"),
    Mutant(module=SERVER, exercise="Server", mistake="stop does not join the handlers",
           before='''        for handler in self.handlers:
            handler.join()
''', after="", hint="join every handler"),
    Mutant(module=SERVER, exercise="Server", mistake="the loop computes each reply itself",
           before="                        handler.start()\n", after="                        handler.run()\n",
           hint="start() a RequestHandler thread"),
    # the test client
    Mutant(module=CLIENT, exercise="request_with_retries", mistake="poll in seconds, not milliseconds",
           before="client.poll(timeout_s * 1000, zmq.POLLIN)", after="client.poll(timeout_s, zmq.POLLIN)",
           hint="poll() takes milliseconds"),
    Mutant(module=CLIENT, exercise="request_with_retries", mistake="the socket is left open after a reply",
           before='''                return client.recv()
        finally:
            client.close(linger=0)''', after='''                return client.recv()
        except BaseException:
            client.close(linger=0)
            raise
        client.close(linger=0)''', hint="close the socket after a reply too"),
    Mutant(module=CLIENT, exercise="read_reply", mistake="predictions not sorted",
           before='ranked = sorted(message["predictions"], key=lambda p: p["probability"], reverse=True)',
           after='ranked = message["predictions"]', hint="sorted by probability"),
]
